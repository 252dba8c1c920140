"""Outbound notices over HTTP: notification rules, subscriptions, recipients' profiles
(quiet-hours calendar, digest, emergency group) and the preview of a notice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import ConfigDict, Field, field_validator

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

_ID_EX = "0192f3c4-0000-7000-8000-0000000000"
RecipientRole = Literal[
    "reporter", "owner", "secondary_owner", "escalation_chain", "team_manager", "emergency_group"
]
SubjectKind = Literal["role", "engineer", "customer"]
DigestMode = Literal["off", "hourly", "daily"]
DeliveryState = Literal["queued", "digested", "suppressed", "skipped"]
PREVIEW_DATA_MAX = 20000  # characters of the preview's sample data, as JSON

_ROLES = (
    "Who hears of it, by role: reporter (the ticket's contact), owner, secondary_owner, "
    "escalation_chain (the recipients an escalation notice names), team_manager (the "
    "owner's team manager; the secondary owner's while nobody owns the ticket), "
    "emergency_group (the emergency group's members and the management an incident names)."
)
_URGENT = (
    "Urgent notices never wait for the recipient's working hours. P1/P2 tickets' and major "
    "incidents' notices are urgent whatever this says."
)
_ENABLED = "false: nobody hears of this notice, whatever the subscriptions say."


class RuleOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": f"{_ID_EX}41",
                "event_type": "sla.breached",
                "roles": ["owner"],
                "urgent": False,
                "enabled": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    event_type: str = Field(description="The notice type, e.g. ticket.waiting_customer.")
    roles: list[str] = Field(description=_ROLES)
    urgent: bool = Field(description=_URGENT)
    enabled: bool = Field(description=_ENABLED)
    version: int
    created_at: datetime
    updated_at: datetime


class RuleUpdate(InputModel):
    """Only what is sent changes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"roles": ["owner", "team_manager"], "urgent": True}},
    )

    roles: list[RecipientRole] | None = Field(None, max_length=6, description=_ROLES)
    urgent: bool | None = Field(None, description=_URGENT)
    enabled: bool | None = Field(None, description=_ENABLED)

    @field_validator("roles")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("roles must be unique")
        return value


class SubscriptionIn(InputModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"subscribed": False}})

    subscribed: bool = Field(
        description="true: hear of this notice even where the rule does not say so (only "
        "of events that concern the subject); false: do not."
    )


class SubscriptionOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": f"{_ID_EX}51",
                "subject_kind": "engineer",
                "subject": f"{_ID_EX}07",
                "event_type": "ticket.comment_added",
                "subscribed": False,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    subject_kind: str = Field(description="role, engineer or customer.")
    subject: str = Field(description="A role's name, or an engineer's or a customer's id.")
    event_type: str
    subscribed: bool
    created_at: datetime
    updated_at: datetime


_CALENDAR = (
    "The calendar whose working hours non-urgent notices wait for; null: the default "
    "business calendar (cn-5x8: Monday to Friday 09:00-18:00 Asia/Shanghai, Chinese "
    "public holidays off, adjusted working days worked)."
)
_DIGEST = (
    "off: notices one by one; hourly or daily: non-urgent notices are merged into one "
    "digest at the end of each hour or local day (then held until working hours)."
)


class EngineerProfileIn(InputModel):
    """The whole profile (PUT replaces it). Only holders of mail:manage change
    `emergency_group`; an engineer may set his own calendar and digest."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"calendar_id": f"{_ID_EX}03", "digest": "daily", "emergency_group": True}
        },
    )

    calendar_id: uuid.UUID | None = Field(None, description=_CALENDAR)
    digest: DigestMode = Field("off", description=_DIGEST)
    emergency_group: bool = Field(
        False, description="A member of the emergency group (应急小组): hears of major incidents."
    )


class CustomerProfileIn(InputModel):
    """The whole profile of a customer's contacts (PUT replaces it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"calendar_id": f"{_ID_EX}03", "digest": "off"}},
    )

    calendar_id: uuid.UUID | None = Field(None, description=_CALENDAR)
    digest: DigestMode = Field("off", description=_DIGEST)


class ProfileOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "kind": "engineer",
                "subject_id": f"{_ID_EX}07",
                "calendar_id": None,
                "effective_calendar_id": "01a20a8b-77d6-7001-8b36-4d5701a3307d",
                "digest": "off",
                "emergency_group": False,
                "stored": False,
                "version": 0,
                "updated_at": None,
            }
        },
    )

    kind: str = Field(description="engineer or customer.")
    subject_id: uuid.UUID
    calendar_id: uuid.UUID | None = Field(description=_CALENDAR)
    effective_calendar_id: uuid.UUID = Field(description="The calendar that applies.")
    digest: str = Field(description=_DIGEST)
    emergency_group: bool = Field(description="Engineers only; false for a customer.")
    stored: bool = Field(description="false: no profile was set, these are the defaults.")
    version: int = Field(description='0 until the profile is first stored (ETag W/"0").')
    updated_at: datetime | None


class PreviewIn(InputModel):
    """Either an outbox message (`outbox_id`: what its notice makes now), or a notice
    type and a ticket (`event_type` and `ticket_id`: a notice of that type about the
    ticket as it is, its event data taken from `data`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "event_type": "ticket.waiting_customer",
                "ticket_id": f"{_ID_EX}11",
                "data": {"note": "请提供交换机的 display diagnostic-information 输出。"},
            }
        },
    )

    event_type: str | None = Field(None, min_length=1, max_length=64, description="A rule's.")
    ticket_id: uuid.UUID | None = None
    outbox_id: uuid.UUID | None = None
    data: dict[str, Any] | None = Field(
        None, description="The sample event's data (with event_type), e.g. a comment's body."
    )

    @field_validator("data")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        try:
            size = len(orjson.dumps(value))
        except TypeError:  # what orjson cannot write: an integer beyond 64 bits
            raise ValueError("data must be JSON with integers of at most 64 bits") from None
        if size > PREVIEW_DATA_MAX:
            raise ValueError(f"data must be at most {PREVIEW_DATA_MAX} bytes as JSON")
        return value


class PreviewRecipientOut(OutputModel):
    role: str
    recipient_kind: str = Field(description="contact or engineer (an API identity).")
    recipient_id: uuid.UUID | None
    address: str = Field(description="'' when the recipient has none.")
    display_name: str | None
    language: str = Field(description="zh-CN or en.")
    urgent: bool
    state: DeliveryState = Field(
        description="queued (held until `held_until` when that is set), digested (waits "
        "for a digest at `available_at`), suppressed, or skipped (see `reason`)."
    )
    reason: str | None = Field(description="Why skipped, suppressed or digested: `code: text`.")
    available_at: datetime
    held_until: datetime | None = Field(description="Set when quiet hours hold it.")
    message_id: str
    in_reply_to: str | None
    subject: str
    text: str
    html: str


class PreviewOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "notice_type": "ticket.waiting_customer",
                "outbox_id": None,
                "ticket_id": f"{_ID_EX}11",
                "urgent": False,
                "recipients": [
                    {
                        "role": "reporter",
                        "recipient_kind": "contact",
                        "recipient_id": f"{_ID_EX}21",
                        "address": "wang@example.cn",
                        "display_name": "王伟",
                        "language": "zh-CN",
                        "urgent": False,
                        "state": "queued",
                        "reason": None,
                        "available_at": "2026-03-03T01:00:00Z",
                        "held_until": "2026-03-03T01:00:00Z",
                        "message_id": "<sl.0192f3c4-0000-7000-8000-000000000099.5e0c3b1a9f2d4c7e@supportline.local>",
                        "in_reply_to": "<ticket.0192f3c4-0000-7000-8000-000000000011@supportline.local>",
                        "subject": "[T2026-000123] 需要您提供信息：核心交换机电源模块告警",
                        "text": "王伟，您好：\n\n为继续处理工单 T2026-000123，我们需要您提供更多信息。\n",
                        "html": '<!DOCTYPE html><html lang="zh-CN">...</html>',
                    }
                ],
            }
        },
    )

    notice_type: str | None = Field(description="null: the message is no notice of ours.")
    outbox_id: uuid.UUID | None = Field(description="The message previewed, if one was.")
    ticket_id: uuid.UUID | None
    urgent: bool
    recipients: list[PreviewRecipientOut] = Field(
        description="One per address (or per recipient without one), in role order."
    )
