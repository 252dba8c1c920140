"""The transactional outbox: events others must hear of, written with the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

OUTBOX_STATUSES = ("pending", "delivered", "dead")


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        enum_check("status", OUTBOX_STATUSES, "ck_outbox_status"),
        # The drain query reads only pending rows, oldest first: a partial index keeps it
        # small however many delivered rows accumulate.
        Index(
            "ix_outbox_pending",
            "available_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # The admin listing (filter by status, newest first) and the per-status counts of
        # /v1/outbox/stats; also what the retention purge walks for delivered rows.
        Index("ix_outbox_status_id", "status", "id"),
    )

    id: uuid.UUID = id_field()
    event_type: str = Field(max_length=64)
    aggregate_type: str = Field(max_length=32)
    aggregate_id: uuid.UUID
    event_id: uuid.UUID | None = Field(default=None, description="The timeline event, if any.")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = ts_field()
    available_at: datetime = ts_field()
    delivered_at: datetime | None = ts_field(nullable=True)


class ConsumerReceipt(SQLModel, table=True):
    """What each consumer has done, keyed by (consumer, message): a repeat is a no-op."""

    __tablename__ = "outbox_receipts"
    # The primary key leads with the consumer; a message's receipts (admin detail view,
    # retention purge) are found through this one.
    __table_args__ = (Index("ix_outbox_receipts_message_id", "message_id"),)

    consumer: str = Field(primary_key=True, max_length=64)
    message_id: uuid.UUID = Field(primary_key=True)
    processed_at: datetime = ts_field()
