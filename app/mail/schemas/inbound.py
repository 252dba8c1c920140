"""Mail in over HTTP: what became of a posted message, and the admin list of received
messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.outputs import OutputModel
from app.mail.models import INBOUND_OUTCOMES, INBOUND_SOURCES

Outcome = Literal["comment", "ticket", "reopened", "bounce", "auto_reply", "refused"]
Source = Literal["lmtp", "http"]
assert set(Outcome.__args__) == set(INBOUND_OUTCOMES)  # type: ignore[attr-defined]
assert set(Source.__args__) == set(INBOUND_SOURCES)  # type: ignore[attr-defined]

_EXAMPLE: dict[str, Any] = {
    "id": "0192f3c4-0000-7000-8000-0000000000e1",
    "message_id": "<CAF=x8Yq1@mail.example.cn>",
    "source": "http",
    "from_address": "wang@example.cn",
    "subject": "回复：[T2026-000123] 核心交换机电源模块告警",
    "outcome": "comment",
    "reason": None,
    "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
    "delivery_id": None,
    "size": 5120,
    "received_at": "2026-03-02T08:00:00Z",
}


class InboundOut(OutputModel):
    """A received message and what became of it."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    message_id: str = Field(
        description="As sent; a message without one gets `<sha256.<hex>@inbound.invalid>`."
    )
    source: Source
    from_address: str
    subject: str
    outcome: Outcome = Field(
        description="comment: added to its ticket; ticket: opened one; reopened: a reply "
        "to a resolved (or recently closed) ticket, added and reopened; bounce: a delivery "
        "report, applied to our delivery and the suppression list; auto_reply: automatic "
        "mail, recorded and not answered; refused: unknown sender, or a loop."
    )
    reason: str | None = Field(description="Why, for outcomes other than a plain comment.")
    ticket_id: uuid.UUID | None
    delivery_id: uuid.UUID | None = Field(description="The delivery a bounce is about.")
    size: int = Field(description="Bytes of the raw message.")
    received_at: datetime


class InboundReceived(InboundOut):
    """The answer to a posted message: the message, and whether it was seen before."""

    model_config = ConfigDict(
        json_schema_extra={"example": {**_EXAMPLE, "duplicate": False, "ticket_number": None}}
    )

    duplicate: bool = Field(
        description="true: this Message-ID was received before; nothing was done again, "
        "and this is what became of it then."
    )
    ticket_number: str | None = Field(description="The ticket's number, when there is one.")
