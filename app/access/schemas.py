from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel
from app.core.security import Role


class ApiKeyCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "CRM integration", "role": "integration"}},
    )

    name: str = Field(min_length=1, max_length=200)
    role: Role
    branch_id: uuid.UUID | None = Field(
        None, description="Limit the key to one branch; null = all."
    )


class ApiKeyOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    role: Role
    branch_id: uuid.UUID | None
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown only in this response; store it now.")


class WhoAmI(OutputModel):
    id: uuid.UUID
    name: str
    role: Role
    branch_id: uuid.UUID | None
    permissions: list[str]
