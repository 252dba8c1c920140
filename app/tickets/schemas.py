from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel
from app.core.pagination import PageQuery
from app.sla.schemas import ClockBrief

Channel = Literal["phone", "email", "web", "chat", "fax", "webhook", "proactive"]
ServiceType = Literal["remote", "onsite", "proactive", "training", "installation", "upgrade"]
Priority = Literal["P1", "P2", "P3", "P4"]
Level = Literal["high", "medium", "low"]
Status = Literal[
    "new",
    "assigned",
    "in_progress",
    "waiting_customer",
    "waiting_parts",
    "waiting_vendor",
    "resolved",
    "closed",
    "cancelled",
]
Action = Literal[
    "acknowledge", "assign", "start", "wait", "resume", "resolve", "confirm", "reopen", "cancel"
]

_CREATE_EXAMPLE: dict[str, Any] = {
    "customer_id": "0192f3c4-5a6b-7c8d-9e0f-a1b2c3d4e5f6",
    "contact_id": "0192f3c4-5a6b-7c8d-9e0f-a1b2c3d4e5f7",
    "device_id": "0192f3c4-5a6b-7c8d-9e0f-a1b2c3d4e5f8",
    "channel": "phone",
    "category": "hardware",
    "service_type": "onsite",
    "impact": "high",
    "urgency": "high",
    "subject": "核心交换机电源模块告警,业务中断",
    "description": "机房A的核心交换机两路电源均告警,下联业务全部中断。",
    "fault_started_at": "2026-03-02T08:40:00+08:00",
    "affected_system": "生产网核心",
    "product_version": "V8.2.1",
}


# The rule the service enforces ("give a priority, or both impact and urgency"), said in
# the schema so that a client's validator knows it too.
_PRIORITY_OR_IMPACT_AND_URGENCY: list[Any] = [
    {"required": ["priority"], "properties": {"priority": {"type": "string"}}},
    {
        "required": ["impact", "urgency"],
        "properties": {"impact": {"type": "string"}, "urgency": {"type": "string"}},
    },
]


class TicketCreate(InputModel):
    """Give a `priority`, or both `impact` and `urgency` to derive it from the matrix."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": _CREATE_EXAMPLE, "anyOf": _PRIORITY_OR_IMPACT_AND_URGENCY},
    )

    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = Field(None, description="Defaults to the customer's branch.")
    channel: Channel
    category: str = Field(min_length=1, max_length=64)
    service_type: ServiceType = "remote"
    priority: Priority | None = Field(None, description="Given, or derived from impact x urgency.")
    impact: Level | None = None
    urgency: Level | None = None
    subject: str = Field(min_length=1, max_length=300)
    description: Text = Field("", max_length=20000)
    fault_started_at: AwareDatetime | None = None
    affected_system: str | None = Field(None, max_length=300)
    product_version: str | None = Field(None, max_length=100)
    external_ref: str | None = Field(None, max_length=200, description="Caller's own reference.")


class TicketUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"priority": "P2", "category": "software"}}
    )

    subject: str | None = Field(None, min_length=1, max_length=300)
    description: Text | None = Field(None, max_length=20000)
    category: str | None = Field(None, min_length=1, max_length=64)
    service_type: ServiceType | None = None
    priority: Priority | None = None
    impact: Level | None = None
    urgency: Level | None = None
    contact_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    fault_started_at: AwareDatetime | None = None
    affected_system: str | None = Field(None, max_length=300)
    product_version: str | None = Field(None, max_length=100)


class TicketSummary(OutputModel):
    """A ticket as lists show it: everything but the long texts (description and
    resolution summary), so a page of 200 stays small; GET the ticket for those."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    branch_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    device_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    uncontracted: bool
    service_level: str | None
    channel: Channel
    category: str
    service_type: ServiceType
    impact: Level | None
    urgency: Level | None
    priority: Priority
    priority_source: Literal["given", "derived"]
    status: Status
    subject: str
    product_version: str | None
    affected_system: str | None
    fault_started_at: datetime | None
    external_ref: str | None
    owner_id: uuid.UUID | None
    created_by: uuid.UUID
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    cancelled_at: datetime | None
    reopen_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    allowed_actions: list[Action] = Field(default_factory=list)


class TicketOut(TicketSummary):
    description: str
    resolution_summary: str | None
    secondary_owner_id: uuid.UUID | None = Field(
        None, description="The secondary owner (第二责任人), who takes handoffs."
    )
    support_line: Literal["l1", "l2", "l3", "vendor"] = Field(
        "l1", description="The support line working it: l1, l2, l3 (R&D) or vendor."
    )
    sla: list[ClockBrief] = Field(
        default_factory=list,
        description="The ticket's SLA clocks; GET /v1/tickets/{id}/clocks has their history.",
    )


class ActionBody(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"note": "客户已提供日志,继续处理"}}
    )

    note: Text | None = Field(None, max_length=4000, description="Recorded on the timeline.")


class AssignBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"owner_id": _CREATE_EXAMPLE["contact_id"], "reason": "原负责人休假"}
        },
    )

    owner_id: uuid.UUID
    reason: Text | None = Field(
        None, max_length=4000, description="Why (recorded; expected when reassigning)."
    )


class AcknowledgeBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"note": "已电话回复客户,正在分析"}}
    )

    owner_id: uuid.UUID | None = Field(None, description="Defaults to the caller.")


class WaitBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"on": "customer", "note": "等待客户提供日志"}},
    )

    on: Literal["customer", "parts", "vendor"]


class ResolveBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"resolution_summary": "更换电源模块后业务恢复。"}},
    )

    resolution_summary: Text = Field(min_length=1, max_length=20000)


class ReasonBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"reason": "客户反馈问题复现"}}
    )

    reason: Text = Field(min_length=1, max_length=4000)


class ConfirmBody(ActionBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"contact_id": _CREATE_EXAMPLE["contact_id"], "note": "客户电话确认已恢复"}
        },
    )

    contact_id: uuid.UUID | None = Field(None, description="The reporter who confirmed.")


class EventOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    type: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    channel: str | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    data: dict[str, Any] | None


class CommentCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"body": "已远程登录查看日志。", "visibility": "internal"}},
    )

    body: Text = Field(min_length=1, max_length=20000)
    visibility: Literal["public", "internal"] = "public"


class CommentOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID
    visibility: Literal["public", "internal"]
    body: str
    created_at: datetime


class AttemptCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"kind": "fix", "description": "重启主控板", "outcome": "failed"}
        },
    )

    kind: Literal["diagnosis", "fix"]
    description: Text = Field(min_length=1, max_length=20000)
    outcome: Literal["failed", "partial", "fixed"]
    minutes_spent: int | None = Field(None, ge=0, le=100000)


class AttemptOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    engineer_id: uuid.UUID
    kind: str
    description: str
    outcome: str
    minutes_spent: int | None
    created_at: datetime


class VisitCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"arrived_at": "2026-03-02T10:05:00+08:00"}},
    )

    arrived_at: AwareDatetime
    departed_at: AwareDatetime | None = None
    notes: Text | None = Field(None, max_length=20000)


class VisitUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"departed_at": "2026-03-02T12:30:00+08:00"}}
    )

    departed_at: AwareDatetime | None = None
    notes: Text | None = Field(None, max_length=20000)


class VisitOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    engineer_id: uuid.UUID
    arrived_at: datetime
    departed_at: datetime | None
    notes: str | None
    version: int
    created_at: datetime


class AttachmentOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: uuid.UUID
    created_at: datetime


class TicketListQuery(PageQuery):
    """The filters of `GET /v1/tickets`, validated as one model."""

    status: list[str] | None = Field(None, description="Comma-separated or repeated.")
    priority: list[str] | None = Field(None, description="P1..P4, comma-separated.")
    customer_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None
    category: str | None = None
    channel: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    q: str | None = Field(
        None, max_length=200, description="Words in subject or description (中文 or English)."
    )
    sla: Literal["breached", "at_risk"] | None = Field(
        None,
        description="breached: a clock missed its target; at_risk: a running clock is "
        "past its warning point and not yet breached.",
    )
    due_before: AwareDatetime | None = Field(
        None, description="A running clock falls due before this."
    )
