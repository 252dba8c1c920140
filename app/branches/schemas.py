from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import available_timezones

from pydantic import ConfigDict, Field, field_validator

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

_ZONES = available_timezones()


def _check_zone(value: str | None) -> str | None:
    if value is not None and value not in _ZONES:
        raise ValueError("unknown IANA time zone")
    return value


class BranchCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "SH",
                "name": "上海分公司",
                "name_en": "Shanghai Branch",
                "region": "华东",
                "timezone": "Asia/Shanghai",
            }
        },
    )

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=100)
    timezone: str = "Asia/Shanghai"
    parent_id: uuid.UUID | None = None

    _zone = field_validator("timezone")(_check_zone)


class BranchUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"region": "华北"}})

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=100)
    timezone: str | None = None

    _zone = field_validator("timezone")(_check_zone)


class BranchOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    name_en: str | None
    region: str | None
    timezone: str
    parent_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
