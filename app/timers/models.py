"""The one general timer table every timed rule uses (SLA warnings and breaches today;
escalation, callbacks, RMA expiry and reminders later)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

# dead: its handler failed TIMER_MAX_ATTEMPTS times in a row; kept for an operator.
TIMER_STATES = ("pending", "fired", "cancelled", "dead")


class Timer(SQLModel, table=True):
    """One row per (kind, subject): setting, moving or cancelling a timer updates it and
    bumps `version`, so a wake-up that finds another version does nothing for it.

    `due_at` is when the rule wants it; `fire_at` is when a worker should next try, the
    same until a handler fails and the retry backs off (the due time stays what it was,
    so lag and the timeline tell the truth). `enqueued_version` is the version the
    scheduler last handed to Redis (a wake-up job exists for it)."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", name="uq_timers_kind_subject"),
        enum_check("state", TIMER_STATES, "ck_timers_state"),
        # The scheduler's and the firing's only query: pending timers by firing time.
        # Partial, so fired and cancelled rows (the vast majority over time) cost nothing.
        Index("ix_timers_pending_fire", "fire_at", postgresql_where=text("state = 'pending'")),
    )

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=64)
    subject_id: uuid.UUID
    due_at: datetime = ts_field()
    fire_at: datetime = ts_field()
    version: int = Field(default=1)
    state: str = Field(default="pending", max_length=10)
    enqueued_version: int | None = Field(default=None)
    attempts: int = Field(
        default=0,
        description="Failed firings of this version in a row.",
        sa_column_kwargs={"server_default": "0"},
    )
    last_error: str | None = Field(default=None, max_length=2000)
    fired_at: datetime | None = ts_field(nullable=True)
    # Unused since revision 0005; the previous release's scheduler still writes it during
    # a rolling deploy. Dropped by a later revision (with the fire_at trigger).
    handed_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
