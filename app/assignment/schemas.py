"""Requests and answers of the assignment API (under /v1/tickets/{id})."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel


class SecondaryOwnerBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"secondary_owner_id": "0192f3c4-0000-7000-8000-00000000e002"}
        },
    )

    secondary_owner_id: uuid.UUID | None = Field(description="null removes the secondary owner.")


class HandoffCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "what": "今晚22:00到客户机房更换主控板,完成后回报结果",
                "until": "2026-03-02T16:00:00Z",
            }
        },
    )

    what: Text = Field(min_length=1, max_length=2000, description="What is handed over.")
    until: AwareDatetime = Field(description="Report back by then; later raises an alert.")
    to_id: uuid.UUID | None = Field(None, description="Defaults to the secondary owner.")


class HandoffReport(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"report": "主控板已更换,业务恢复,观察30分钟无告警"}},
    )

    report: Text = Field(min_length=1, max_length=20000)


class HandoffOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-00000000f001",
                "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
                "from_id": "0192f3c4-0000-7000-8000-00000000e001",
                "to_id": "0192f3c4-0000-7000-8000-00000000e002",
                "what": "今晚22:00到客户机房更换主控板,完成后回报结果",
                "until": "2026-03-02T16:00:00Z",
                "state": "reported",
                "report": "主控板已更换,业务恢复",
                "reported_at": "2026-03-02T15:20:00Z",
                "overdue_at": None,
                "created_at": "2026-03-02T09:00:00Z",
            }
        },
    )

    id: uuid.UUID
    ticket_id: uuid.UUID
    from_id: uuid.UUID
    to_id: uuid.UUID
    what: str
    until: datetime
    state: Literal["open", "reported", "cancelled"]
    report: str | None
    reported_at: datetime | None
    overdue_at: datetime | None = Field(description="When the handoff passed `until` unreported.")
    created_at: datetime


class DeferBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"until": "2026-03-02T14:00:00Z", "reason": "正在处理另一P1故障现场"}
        },
    )

    until: AwareDatetime = Field(description="The primary owner cannot take it before then.")
    reason: Text = Field(min_length=1, max_length=2000)
