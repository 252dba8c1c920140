"""Requests and answers of /v1/incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

_ID = "0192f3c4-0000-7000-8000-00000000c001"


class IncidentCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "title": "华东区多家银行核心交换机批量宕机",
                "description": "V8.2.1版本在主备倒换后出现BFD震荡,影响至少6家客户生产网",
                "product_family": "switch",
                "update_interval_minutes": 30,
                "ticket_ids": [],
            }
        },
    )

    title: str = Field(min_length=1, max_length=300)
    description: Text = Field("", max_length=20000)
    product_family: str | None = Field(None, max_length=64)
    update_interval_minutes: int = Field(30, ge=5, le=1440,
                                         description="Status updates due every X minutes.")  # fmt: skip
    ticket_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)


_INCIDENT_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "title": "华东区多家银行核心交换机批量宕机",
    "description": "V8.2.1版本在主备倒换后出现BFD震荡",
    "product_family": "switch",
    "trigger": "manual",
    "declared_by": "0192f3c4-0000-7000-8000-00000000a001",
    "state": "open",
    "update_interval_minutes": 30,
    "next_update_due_at": "2026-03-02T10:30:00Z",
    "last_update_at": "2026-03-02T10:00:00Z",
    "resolution_summary": None,
    "resolved_at": None,
    "version": 2,
    "created_at": "2026-03-02T09:40:00Z",
    "ticket_ids": ["0192f3c4-0000-7000-8000-000000000001"],
}


class IncidentOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"example": _INCIDENT_EXAMPLE}
    )

    id: uuid.UUID
    title: str
    description: str
    product_family: str | None
    trigger: Literal["manual", "auto"]
    declared_by: uuid.UUID | None
    state: Literal["open", "resolved"]
    update_interval_minutes: int
    next_update_due_at: datetime | None
    last_update_at: datetime | None
    resolution_summary: str | None
    resolved_at: datetime | None
    version: int
    created_at: datetime
    ticket_ids: list[uuid.UUID] = Field(default_factory=list)


class LinkBody(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"ticket_ids": [_ID]}})

    ticket_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class UpdateCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"body": "已定位为V8.2.1缺陷,补丁验证中,预计11:00恢复"}},
    )

    body: Text = Field(min_length=1, max_length=20000)


class UpdateOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {"id": _ID, "incident_id": _ID, "body": "补丁验证中",
                        "author_id": _ID, "created_at": "2026-03-02T10:00:00Z"}
        },
    )  # fmt: skip

    id: uuid.UUID
    incident_id: uuid.UUID
    body: str
    author_id: uuid.UUID | None
    created_at: datetime


class IncidentResolveBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"summary": "全网升级V8.2.3补丁后恢复,观察2小时无复发",
                        "resolve_tickets": True}
        },
    )  # fmt: skip

    summary: Text = Field(min_length=1, max_length=20000)
    resolve_tickets: bool = Field(
        False, description="Also resolve every linked open ticket with this summary."
    )


class IncidentResolveOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "incident": {
                    **_INCIDENT_EXAMPLE,
                    "state": "resolved",
                    "resolution_summary": "升级到V8.2.3补丁版本后恢复",
                    "resolved_at": "2026-03-02T12:00:00Z",
                    "version": 3,
                },
                "resolved_ticket_ids": ["0192f3c4-0000-7000-8000-000000000001"],
                "left_ticket_ids": [],
            }
        }
    )

    incident: IncidentOut
    resolved_ticket_ids: list[uuid.UUID]
    left_ticket_ids: list[uuid.UUID] = Field(
        description="Linked tickets not resolved: already resolved or closed, or outside "
        "the caller's branch."
    )
