"""Deliveries (one e-mail to one address), their attempts, dead letters and their retry,
and the suppression list."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel
from app.mail.models import ATTEMPT_OUTCOMES, DELIVERY_STATES

DeliveryState = Literal[
    "queued", "sending", "sent", "retrying", "dead", "suppressed", "skipped", "digested"
]
AttemptOutcome = Literal["in_progress", "sent", "temporary", "permanent", "unknown", "interrupted"]
assert set(DeliveryState.__args__) == set(DELIVERY_STATES)  # type: ignore[attr-defined]
assert set(AttemptOutcome.__args__) == set(ATTEMPT_OUTCOMES)  # type: ignore[attr-defined]

# One address, as SMTP carries it: local@domain, no spaces, brackets or quotes (an
# address the sender could not put on an RCPT line is refused here, not at sending).
_ADDRESS = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\.]+(\.[^@\s<>()\[\],;:\"\\.]+)+$"
)


def _address(value: str) -> str:
    value = value.strip().lower()
    if not _ADDRESS.match(value):
        raise ValueError("not an e-mail address (local@domain.tld)")
    return value


Address = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_address)]

_ID = "0192f3c4-0000-7000-8000-0000000000d1"
_TICKET = "0192f3c4-0000-7000-8000-000000000001"
_DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "outbox_id": "0192f3c4-0000-7000-8000-0000000000b1",
    "event_type": "ticket.created",
    "ticket_id": _TICKET,
    "ticket_number": "T2026-000123",
    "role": "reporter",
    "recipient_kind": "contact",
    "recipient_id": "0192f3c4-0000-7000-8000-0000000000c1",
    "address": "wang@example.cn",
    "display_name": "王伟",
    "language": "zh-CN",
    "urgent": True,
    "state": "sent",
    "reason": None,
    "message_id": "<sl.0192f3c4-0000-7000-8000-0000000000b1.3f1e2d4c5b6a7988@supportline.local>",
    "in_reply_to": f"<ticket.{_TICKET}@supportline.local>",
    "subject": "[T2026-000123] 工单已受理:核心交换机电源模块告警",
    "digest_id": None,
    "attempts": 1,
    "resends": 0,
    "last_error": None,
    "available_at": "2026-03-02T08:00:02Z",
    "held_until": None,
    "sending_at": "2026-03-02T08:00:01Z",
    "sent_at": "2026-03-02T08:00:01Z",
    "created_at": "2026-03-02T08:00:00Z",
    "updated_at": "2026-03-02T08:00:01Z",
}


class DeliveryOut(OutputModel):
    """One e-mail to one address for one event (or a digest of several)."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"example": _DELIVERY_EXAMPLE}
    )

    id: uuid.UUID
    outbox_id: uuid.UUID | None = Field(description="The event; null for a digest.")
    event_type: str
    ticket_id: uuid.UUID | None
    ticket_number: str | None
    role: str | None = Field(description="Why this recipient: reporter, owner, ...")
    recipient_kind: Literal["contact", "engineer", "address"]
    recipient_id: uuid.UUID | None
    address: str = Field(description="Lower-cased; empty when the recipient has none.")
    display_name: str | None
    language: str
    urgent: bool = Field(description="Urgent notices never wait for quiet hours.")
    state: DeliveryState = Field(
        description="queued → sending → sent, or retrying (a temporary failure), dead (a "
        "permanent one, or too many attempts: re-triable), suppressed (the address is on "
        "the suppression list), skipped (no address, opted out, a flood rule: `reason`), "
        "digested (merged into `digest_id`)."
    )
    reason: str | None = Field(description="Why skipped, suppressed or dead by a bounce.")
    message_id: str = Field(description="Deterministic per (event, address): a resend keeps it.")
    in_reply_to: str | None = Field(description="The ticket's thread root.")
    subject: str
    digest_id: uuid.UUID | None
    attempts: int = Field(description="Tries since it was queued (or last retried by hand).")
    resends: int = Field(
        description="Tries that sent it again after one whose outcome was never known "
        "(a worker that died between DATA and the record, no answer after the body): "
        "the receiver got the same Message-ID twice and drops the copy."
    )
    last_error: str | None = Field(description="The last failure: phase, SMTP code, answer.")
    available_at: datetime = Field(
        description="Queued or retrying: when it is due; sending: when its lease ends."
    )
    held_until: datetime | None = Field(description="Held for quiet hours until then.")
    sending_at: datetime | None = Field(
        description="When the last attempt began, while its outcome is unknown or it was sent."
    )
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryAttemptOut(OutputModel):
    """One try at handing the delivery to the SMTP server."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-0000000000a1",
                "started_at": "2026-03-02T08:00:01Z",
                "finished_at": "2026-03-02T08:00:01Z",
                "outcome": "sent",
                "resend": False,
                "code": 250,
                "reply": "2.0.0 Ok: queued as 4Xk9Qd1Zz3",
                "server": "smtp.example.cn:587",
            }
        },
    )

    id: uuid.UUID
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome = Field(
        description="sent; temporary (4xx, or the connection lost before DATA); permanent "
        "(5xx, or a message SMTP cannot carry); unknown (no answer after the body); "
        "interrupted (the worker died during it); in_progress."
    )
    resend: bool = Field(description="Sent again after a try whose outcome was never known.")
    code: int | None = Field(description="The SMTP reply code, when one came.")
    reply: str | None = Field(description="The server's answer (often its queue id), or the error.")
    server: str = Field(description="host:port it went to.")


class DeliveryDetail(DeliveryOut):
    """A delivery with its rendered message and every attempt, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                **_DELIVERY_EXAMPLE,
                "text_body": "王伟 您好:\n\n您的工单 T2026-000123 已受理。",
                "html_body": "<p>王伟 您好:</p><p>您的工单 T2026-000123 已受理。</p>",
                "history": [DeliveryAttemptOut.model_config["json_schema_extra"]["example"]],  # type: ignore[index]
            }
        }
    )

    text_body: str
    html_body: str
    history: list[DeliveryAttemptOut]


class RetryDeadIn(InputModel):
    """Which dead deliveries to retry; all of them (of the key's branch) when empty."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"event_type": "ticket.created", "address": None}},
    )

    event_type: str | None = Field(None, min_length=1, max_length=64)
    ticket_id: uuid.UUID | None = None
    address: Address | None = None


class RetryDeadOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"retried": 42, "suppressed": 1, "remaining": 0}}
    )

    retried: int = Field(description="Dead deliveries queued again, due now.")
    suppressed: int = Field(
        description="Dead deliveries left dead because their address is suppressed "
        "(release it first)."
    )
    remaining: int = Field(
        description="Dead deliveries matching the filter still left (one call retries at "
        "most 10,000): call again."
    )


class SuppressionOut(OutputModel):
    """An address that bounced hard, or was added by hand."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "address": "old.user@example.cn",
                "suppressed": True,
                "hard_bounces": 3,
                "last_reason": "550 5.1.1 <old.user@example.cn>: Recipient address rejected",
                "last_bounce_at": "2026-03-02T08:00:00Z",
                "released_at": None,
                "created_at": "2026-02-20T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    address: str
    suppressed: bool = Field(description="true: nothing is sent to it until released.")
    hard_bounces: int = Field(description="Since it was last released.")
    last_reason: str | None
    last_bounce_at: datetime | None
    released_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SuppressionIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"address": "old.user@example.cn", "reason": "客户反馈该邮箱已停用"}
        },
    )

    address: Address
    reason: str = Field(min_length=1, max_length=1000, description="Why (kept as last_reason).")


class SuppressionRelease(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"address": "old.user@example.cn"}}
    )

    address: Address


class DeliveryStats(OutputModel):
    """The sender's backlog (of the key's branch), for dashboards and alerts."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"queued": 3, "sending": 1, "retrying": 2, "dead": 1, "due": 3,
                        "oldest_due_age_seconds": 1.4}
        }
    )  # fmt: skip

    queued: int
    sending: int
    retrying: int
    dead: int = Field(description="Dead letters waiting for a retry by hand.")
    due: int = Field(description="Queued or retrying and due now, or `sending` past its lease.")
    oldest_due_age_seconds: float = Field(
        description="How long the oldest due delivery has waited: the sender's lag. An "
        "unreachable SMTP server shows here first (and in supportline_mail_smtp_errors_total)."
    )
