"""SLA policies (targets per service level and priority) and the clocks on tickets."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

METRICS = ("first_response", "onsite", "part_onsite", "resolution")
PRIORITIES = ("P1", "P2", "P3", "P4")
CLOCK_STATES = ("running", "paused", "stopped")
CLOCK_OUTCOMES = ("met", "breached", "cancelled")
SEGMENT_KINDS = ("running", "paused")


class SlaPolicy(SQLModel, table=True):
    """What a service level promises; contracts name the level, uncontracted tickets get
    the default level's policy."""

    __tablename__ = "sla_policies"

    id: uuid.UUID = id_field()
    service_level: str = Field(foreign_key="service_levels.code", unique=True, max_length=32)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    # Waiting on the customer always stops the clocks; waiting on the vendor only if the
    # contract says so (DOMAIN section 3).
    pause_on_vendor: bool = Field(default=False)
    # New tickets under this policy are assigned at once to an engineer on duty
    # (app/assignment); otherwise a dispatcher assigns them.
    auto_assign: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class SlaTarget(SQLModel, table=True):
    __tablename__ = "sla_targets"
    __table_args__ = (
        UniqueConstraint("policy_id", "priority", "metric", name="uq_sla_targets_key"),
        enum_check("priority", PRIORITIES, "ck_sla_targets_priority"),
        enum_check("metric", METRICS, "ck_sla_targets_metric"),
    )

    id: uuid.UUID = id_field()
    policy_id: uuid.UUID = Field(foreign_key="sla_policies.id", ondelete="CASCADE")
    priority: str = Field(max_length=2)
    metric: str = Field(max_length=20)
    minutes: int = Field(gt=0, description="Business minutes on the target's calendar.")
    calendar_id: uuid.UUID = Field(foreign_key="calendars.id")
    warn_percent: int = Field(default=75, ge=1, le=99)


class TicketClock(SQLModel, table=True):
    """One SLA target running on one ticket. Its history is its segments: business time
    used is the sum of the running segments on the clock's calendar, so paused time is
    never counted, whatever is recomputed later."""

    __tablename__ = "ticket_clocks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "metric", name="uq_ticket_clocks_ticket_metric"),
        enum_check("metric", METRICS, "ck_ticket_clocks_metric"),
        enum_check("state", CLOCK_STATES, "ck_ticket_clocks_state"),
        enum_check("outcome", CLOCK_OUTCOMES, "ck_ticket_clocks_outcome"),
        # "due before" and "at risk" list filters read running clocks by due time.
        Index("ix_ticket_clocks_running_due", "due_at", postgresql_where=text("state = 'running'")),
        Index(
            "ix_ticket_clocks_running_warn", "warn_at", postgresql_where=text("state = 'running'")
        ),
        Index(
            "ix_ticket_clocks_breached", "ticket_id", postgresql_where=text("outcome = 'breached'")
        ),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    metric: str = Field(max_length=20)
    target_seconds: int
    calendar_id: uuid.UUID = Field(foreign_key="calendars.id")
    warn_percent: int
    state: str = Field(default="running", max_length=10)
    outcome: str | None = Field(default=None, max_length=10)
    started_at: datetime = ts_field()
    used_seconds: int = Field(default=0, description="Business seconds of closed running segments.")
    running_since: datetime | None = ts_field(nullable=True)
    warn_at: datetime | None = ts_field(nullable=True)
    due_at: datetime | None = ts_field(nullable=True)
    stopped_at: datetime | None = ts_field(nullable=True)
    warned_at: datetime | None = ts_field(nullable=True)
    breached_at: datetime | None = ts_field(nullable=True)
    updated_at: datetime = ts_field()


class ClockSegment(SQLModel, table=True):
    __tablename__ = "ticket_clock_segments"
    __table_args__ = (
        enum_check("kind", SEGMENT_KINDS, "ck_ticket_clock_segments_kind"),
        Index("ix_ticket_clock_segments_clock_id_id", "clock_id", "id"),
    )

    id: uuid.UUID = id_field()
    clock_id: uuid.UUID = Field(foreign_key="ticket_clocks.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    reason: str = Field(max_length=40)
    started_at: datetime = ts_field()
    ended_at: datetime | None = ts_field(nullable=True)
