"""Requests and answers of the escalation API (under /v1/tickets/{id}/escalations)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

Line = Literal["l1", "l2", "l3", "vendor"]


class WorkOrder(InputModel):
    """The fault handling work order (故障处理工作单) an escalation to R&D needs."""

    model_config = ConfigDict(extra="forbid")

    environment: Text = Field(min_length=1, max_length=4000, description="Versions, topology.")
    steps: Text = Field(min_length=1, max_length=8000, description="Steps to reproduce.")
    symptoms: Text = Field(min_length=1, max_length=8000)
    log_attachment_ids: list[uuid.UUID] = Field(
        default_factory=list, description="The ticket's attachments holding the logs."
    )


class EscalationCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "reason": "二线已排查三天仍无法定位,疑似软件缺陷",
                "to_line": "l3",
                "work_order": {
                    "environment": "S12700E-8, V8.2.1, 双主控热备",
                    "steps": "1. 配置VRRP 2. 主备倒换 3. 观察BFD会话",
                    "symptoms": "倒换后BFD会话震荡,业务中断约30秒",
                    "log_attachment_ids": [],
                },
            }
        },
    )

    reason: Text = Field(min_length=1, max_length=4000)
    to_line: Line | None = Field(None, description="Defaults to the next line up.")
    work_order: WorkOrder | None = Field(None, description="Required to go to R&D (l3).")
    vendor: str | None = Field(None, max_length=200, description="Required to go to the vendor.")
    vendor_case_ref: str | None = Field(None, max_length=200)


class EscalationOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-00000000e501",
                "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
                "from_line": "l2",
                "to_line": "l3",
                "trigger": "manual",
                "reason": "二线已排查三天仍无法定位,疑似软件缺陷",
                "requested_by": "0192f3c4-0000-7000-8000-00000000e002",
                "state": "accepted",
                "work_order": {"environment": "S12700E-8, V8.2.1", "steps": "...",
                               "symptoms": "...", "log_attachment_ids": []},
                "approved_by": "0192f3c4-0000-7000-8000-00000000a001",
                "approved_at": "2026-03-02T09:30:00Z",
                "decided_by": "0192f3c4-0000-7000-8000-00000000a002",
                "decided_at": "2026-03-02T10:00:00Z",
                "rd_owner_id": "0192f3c4-0000-7000-8000-00000000e003",
                "advice": None,
                "vendor": None,
                "vendor_case_ref": None,
                "closed_at": None,
                "created_at": "2026-03-02T09:00:00Z",
            }
        },
    )  # fmt: skip

    id: uuid.UUID
    ticket_id: uuid.UUID
    from_line: Line
    to_line: Line
    trigger: Literal["sla_warning", "sla_breach", "failed_attempts", "manual"]
    reason: str
    requested_by: uuid.UUID | None
    state: Literal[
        "requested", "approved", "accepted", "closure_proposed", "closed", "rejected", "cancelled"
    ]
    work_order: dict[str, Any] | None
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    rd_owner_id: uuid.UUID | None
    advice: str | None
    vendor: str | None
    vendor_case_ref: str | None
    closed_at: datetime | None
    created_at: datetime


class AcceptBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"rd_owner_id": "0192f3c4-0000-7000-8000-00000000e003"}},
    )

    rd_owner_id: uuid.UUID = Field(description="The R&D engineer who owns the fault.")


class AdviceBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"advice": "请先升级到V8.2.3补丁版本后复测,已知问题已修复"}},
    )

    advice: Text = Field(min_length=1, max_length=4000)


class NoteBody(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"note": "补丁已验证,问题不再复现"}}
    )

    note: Text = Field("", max_length=4000)


class ClosureAnswer(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"confirm": True, "note": "客户确认业务稳定运行24小时"}},
    )

    confirm: bool
    note: Text = Field("", max_length=4000)


class NotifyLevel(InputModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        for v in values:
            if v == "team_manager" or v.startswith("role:") or v.startswith("group:"):
                continue
            try:
                uuid.UUID(v)
            except ValueError as exc:
                raise ValueError(
                    f"{v!r}: an API key id, 'team_manager', 'role:<role>' or 'group:<name>'"
                ) from exc
        return values

    level: int = Field(ge=1, le=9)
    after: Literal["warning", "breach"]
    delay_minutes: int = Field(0, ge=0, le=7 * 24 * 60)
    recipients: list[str] = Field(
        min_length=1,
        max_length=50,
        description='API key ids, "team_manager" (the owner\'s team manager) or "role:<role>".',
    )


class EscalationPolicyIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "failed_attempts": 3,
                "functional_on": "breach",
                "notify_levels": [
                    {"level": 1, "after": "warning", "delay_minutes": 0,
                     "recipients": ["team_manager"]},
                    {"level": 2, "after": "breach", "delay_minutes": 30,
                     "recipients": ["role:manager"]},
                ],
            }
        },
    )  # fmt: skip

    failed_attempts: int = Field(3, ge=0, le=50, description="0: failed attempts never escalate.")
    functional_on: Literal["warning", "breach", "never"] = "breach"
    notify_levels: list[NotifyLevel] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _distinct_levels(self) -> EscalationPolicyIn:
        keys = [(lv.after, lv.level) for lv in self.notify_levels]
        if len(keys) != len(set(keys)):
            raise ValueError("each (after, level) pair may appear once")
        return self


class NotifyLevelOut(OutputModel):
    """A notification level as stored (the response twin of NotifyLevel)."""

    model_config = ConfigDict(from_attributes=True)

    level: int
    after: Literal["warning", "breach"]
    delay_minutes: int
    recipients: list[str]


class EscalationPolicyOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "service_level": "gold",
                "failed_attempts": 3,
                "functional_on": "breach",
                "notify_levels": [
                    {"level": 1, "after": "warning", "delay_minutes": 0,
                     "recipients": ["team_manager"]},
                ],
                "version": 1,
                "updated_at": "2026-03-02T01:30:00Z",
            }
        },
    )  # fmt: skip

    service_level: str = Field(description='"*" is the default for levels without their own.')
    failed_attempts: int = Field(description="0: failed attempts never escalate.")
    functional_on: Literal["warning", "breach", "never"]
    notify_levels: list[NotifyLevelOut]
    version: int
    updated_at: datetime
