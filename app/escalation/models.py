"""Escalation (DOMAIN section 5): functional, to the next support line (l1 -> l2 -> l3/R&D
-> vendor), and hierarchical, notices up a chain of managers as an SLA breach approaches
or passes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

TRIGGERS = ("sla_warning", "sla_breach", "failed_attempts", "manual")
# requested: an escalation to R&D waiting for the line manager's approval; approved:
# waiting for R&D's manager to accept or reject; accepted: R&D works on it (or the
# vendor, or line 2: accepted at once); closure_proposed: R&D asks to close;
# closed / rejected / cancelled: over.
STATES = (
    "requested",
    "approved",
    "accepted",
    "closure_proposed",
    "closed",
    "rejected",
    "cancelled",
)
OPEN_STATES = ("requested", "approved", "accepted", "closure_proposed")
NOTICE_STATES = ("pending", "sent", "cancelled")


class EscalationPolicy(SQLModel, table=True):
    """Per service level; "*" is the default for levels without one of their own.

    `notify_levels` is the hierarchical chain: [{"level": 1, "after": "warning" | "breach",
    "delay_minutes": 0, "recipients": [...]}], a recipient being an API key id,
    "team_manager" (the owner's team manager) or "role:<role>" (every key of that role)."""

    __tablename__ = "escalation_policies"
    __table_args__ = (
        enum_check("functional_on", ("warning", "breach", "never"), "ck_escalation_policies_on"),
        UniqueConstraint("service_level", name="uq_escalation_policies_level"),
    )

    id: uuid.UUID = id_field()
    service_level: str = Field(default="*", max_length=64)
    failed_attempts: int = Field(default=3, description="Failed attempts that escalate.")
    functional_on: str = Field(default="breach", max_length=8)
    notify_levels: list[Any] = Field(default_factory=list, sa_type=JSONB)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Escalation(SQLModel, table=True):
    __tablename__ = "escalations"
    __table_args__ = (
        enum_check("trigger", TRIGGERS, "ck_escalations_trigger"),
        enum_check("state", STATES, "ck_escalations_state"),
        Index("ix_escalations_ticket_id_id", "ticket_id", "id"),
        # One open functional escalation per ticket: a timer and a person escalating the
        # same ticket at once make one escalation, not two.
        Index(
            "uq_escalations_one_open",
            "ticket_id",
            unique=True,
            postgresql_where=text(
                "state IN ('requested', 'approved', 'accepted', 'closure_proposed')"
            ),
        ),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    from_line: str = Field(max_length=8)
    to_line: str = Field(max_length=8)
    trigger: str = Field(max_length=16)
    reason: str = Field(max_length=4000)
    requested_by: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    state: str = Field(max_length=20)
    work_order: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    approved_by: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    approved_at: datetime | None = ts_field(nullable=True)
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    decided_at: datetime | None = ts_field(nullable=True)
    rd_owner_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    advice: str | None = Field(default=None, max_length=4000)
    vendor: str | None = Field(default=None, max_length=200)
    vendor_case_ref: str | None = Field(default=None, max_length=200)
    closed_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class EscalationNotice(SQLModel, table=True):
    """One level of the hierarchical chain for one clock's warning or breach: sent by its
    timer after the level's delay, unless the clock has been met or stopped by then."""

    __tablename__ = "escalation_notices"
    __table_args__ = (
        enum_check("state", NOTICE_STATES, "ck_escalation_notices_state"),
        UniqueConstraint("clock_id", "after", "level", name="uq_escalation_notices_key"),
        Index("ix_escalation_notices_ticket_id", "ticket_id"),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    clock_id: uuid.UUID
    after: str = Field(max_length=8)
    level: int
    recipients: list[Any] = Field(default_factory=list, sa_type=JSONB)
    due_at: datetime = ts_field()
    state: str = Field(default="pending", max_length=10)
    sent_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
