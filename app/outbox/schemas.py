from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.outputs import OutputModel

OutboxStatus = Literal["pending", "delivered", "dead"]

_MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "0192f3c4-5b6a-7c8d-9e0f-1a2b3c4d5e6f",
    "event_type": "ticket.created",
    "aggregate_type": "ticket",
    "aggregate_id": "0192f3c4-0000-7000-8000-000000000001",
    "event_id": "0192f3c4-0000-7000-8000-000000000002",
    "payload": {"number": "T2026-000123", "priority": "P2"},
    "status": "dead",
    "attempts": 8,
    "last_error": "notifications.email: SMTPServerDisconnected: Connection unexpectedly closed",
    "created_at": "2026-03-02T08:15:00Z",
    "available_at": "2026-03-02T08:31:40Z",
    "delivered_at": None,
}


class OutboxMessageOut(OutputModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _MESSAGE_EXAMPLE})

    id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: uuid.UUID
    event_id: uuid.UUID | None
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int = Field(description="Failed deliveries so far (reset by a retry).")
    last_error: str | None = Field(description="The most recent failure, per consumer.")
    created_at: datetime
    available_at: datetime = Field(description="Not delivered before this (backoff).")
    delivered_at: datetime | None


class ReceiptOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    consumer: str
    processed_at: datetime


class OutboxMessageDetail(OutboxMessageOut):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                **_MESSAGE_EXAMPLE,
                "receipts": [
                    {"consumer": "webhooks.fanout", "processed_at": "2026-03-02T08:15:01Z"}
                ],
            }
        },
    )

    receipts: list[ReceiptOut] = Field(
        description="Consumers that have handled this message (each does so once)."
    )


class OutboxStatusCounts(OutputModel):
    pending: int
    delivered: int
    dead: int


class OutboxStats(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "counts": {"pending": 12, "delivered": 48210, "dead": 1},
                "due": 3,
                "oldest_pending_created_at": "2026-03-02T08:15:00Z",
                "oldest_pending_age_seconds": 42.5,
                "lag_seconds": 0.8,
            }
        }
    )

    counts: OutboxStatusCounts
    due: int = Field(description="Pending messages whose time has come (not backing off).")
    oldest_pending_created_at: datetime | None
    oldest_pending_age_seconds: float | None = Field(
        description="Age of the oldest pending message (including ones backing off)."
    )
    lag_seconds: float = Field(
        description="How long the oldest due message has been waiting: the drain's lag."
    )
