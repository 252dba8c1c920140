"""The one general timer table every timed rule uses (SLA warnings and breaches today;
escalation, callbacks, RMA expiry and reminders later)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

TIMER_STATES = ("pending", "fired", "cancelled")


class Timer(SQLModel, table=True):
    """One row per (kind, subject): setting, moving or cancelling a timer updates it and
    bumps `version`, so a job enqueued for an older version finds it stale and does
    nothing. `enqueued_version` is the version the scheduler last handed to Redis, and
    `handed_at` when (an overdue timer is handed again at most once per grace period)."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", name="uq_timers_kind_subject"),
        enum_check("state", TIMER_STATES, "ck_timers_state"),
        # The scheduler's only query: pending timers by due time. Partial, so fired and
        # cancelled rows (the vast majority over time) cost it nothing.
        Index("ix_timers_pending_due", "due_at", postgresql_where=text("state = 'pending'")),
    )

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=64)
    subject_id: uuid.UUID
    due_at: datetime = ts_field()
    version: int = Field(default=1)
    state: str = Field(default="pending", max_length=10)
    enqueued_version: int | None = Field(default=None)
    handed_at: datetime | None = ts_field(nullable=True)
    fired_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
