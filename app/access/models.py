from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field
from app.core.security import Role


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (enum_check("role", [r.value for r in Role], "ck_api_keys_role"),)

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=20)
    branch_id: uuid.UUID | None = Field(default=None, foreign_key="branches.id", index=True)
    active: bool = Field(default=True)
    created_at: datetime = ts_field()
    revoked_at: datetime | None = ts_field(nullable=True)
