"""The customer's side after resolution (DOMAIN sections 2, 7 and 8): callbacks (客户回访)
and periodic contact plans (定期主动式电话支持), satisfaction surveys (满意度调查), and the
policy that says when and how often a callback is tried and when a silent ticket closes.

What the database holds by itself: at most one open resolution callback per ticket and
one survey per resolution (unique), and a survey answered once (`answered_at` is set by
one conditional UPDATE).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

CALLBACK_REASONS = ("resolution", "plan")
CALLBACK_STATES = ("open", "done", "cancelled")
CALLBACK_OUTCOMES = ("satisfied", "not_solved", "no_answer", "unreachable", "done")
ATTEMPT_OUTCOMES = ("satisfied", "not_solved", "no_answer", "done")
EXHAUSTED = ("close", "leave_open")


class CallbackPolicy(SQLModel, table=True):
    """When a resolution callback is due and how it is retried; one row per customer that
    differs, and the default (`customer_id` null)."""

    __tablename__ = "callback_policies"
    __table_args__ = (
        enum_check("on_exhausted", EXHAUSTED, "ck_callback_policies_exhausted"),
        CheckConstraint(
            "local_time ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'", name="ck_callback_policies_time"
        ),
        # One default (null) and one row per customer: NULLS NOT DISTINCT (PostgreSQL 15).
        UniqueConstraint(
            "customer_id", name="uq_callback_policies_customer", postgresql_nulls_not_distinct=True
        ),
    )

    id: uuid.UUID = id_field()
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customers.id")
    enabled: bool = Field(default=True, description="Schedule a callback on resolve.")
    calendar_id: uuid.UUID = Field(foreign_key="calendars.id")
    local_time: str = Field(default="10:00", max_length=5)
    after_business_days: int = Field(default=1, ge=0, le=30)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_minutes: int = Field(default=120, ge=5, le=10080)
    on_exhausted: str = Field(default="close", max_length=12)
    silence_business_days: int = Field(default=3, ge=1, le=60)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Callback(SQLModel, table=True):
    """A call to make: after a resolution (to confirm it) or from a contact plan."""

    __tablename__ = "callbacks"
    __table_args__ = (
        enum_check("reason", CALLBACK_REASONS, "ck_callbacks_reason"),
        enum_check("state", CALLBACK_STATES, "ck_callbacks_state"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('satisfied', 'not_solved', 'no_answer', "
            "'unreachable', 'done')",
            name="ck_callbacks_outcome",
        ),
        CheckConstraint(
            "(reason = 'resolution') = (ticket_id IS NOT NULL)", name="ck_callbacks_ticket"
        ),
        Index(
            "uq_callbacks_open_ticket",
            "ticket_id",
            unique=True,
            postgresql_where=text("state = 'open' AND ticket_id IS NOT NULL"),
        ),
        Index(
            "ix_callbacks_agent_due", "agent_id", "due_at", postgresql_where=text("state = 'open'")
        ),
        Index("ix_callbacks_ticket", "ticket_id"),
    )

    id: uuid.UUID = id_field()
    reason: str = Field(max_length=12)
    ticket_id: uuid.UUID | None = Field(default=None, foreign_key="tickets.id")
    plan_id: uuid.UUID | None = Field(default=None, foreign_key="contact_plans.id")
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    due_at: datetime = ts_field()
    state: str = Field(default="open", max_length=10)
    outcome: str | None = Field(default=None, max_length=12)
    attempts: int = Field(default=0)
    note: str | None = Field(default=None, max_length=4000)
    overdue_at: datetime | None = ts_field(nullable=True)
    completed_at: datetime | None = ts_field(nullable=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class CallbackAttempt(SQLModel, table=True):
    """One call made: who, when, what came of it."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        enum_check("outcome", ATTEMPT_OUTCOMES, "ck_callback_attempts_outcome"),
        Index("ix_callback_attempts_callback", "callback_id", "at"),
    )

    id: uuid.UUID = id_field()
    callback_id: uuid.UUID = Field(foreign_key="callbacks.id")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    outcome: str = Field(max_length=12)
    note: str | None = Field(default=None, max_length=4000)
    at: datetime = ts_field()


class ContactPlan(SQLModel, table=True):
    """Periodic proactive calls to a key customer: every `every_weeks` weeks a callback of
    its own is created for the agent."""

    __tablename__ = "contact_plans"
    __table_args__ = (
        Index("ix_contact_plans_due", "next_due_at", postgresql_where=text("active")),
    )

    id: uuid.UUID = id_field()
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    every_weeks: int = Field(ge=1, le=52)
    next_due_at: datetime = ts_field()
    active: bool = Field(default=True)
    note: str | None = Field(default=None, max_length=4000)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Survey(SQLModel, table=True):
    """A satisfaction survey for one resolution: its link carries a signed, expiring token
    (no login); answered once."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_surveys_rating"),
        CheckConstraint("(rating IS NULL) = (answered_at IS NULL)", name="ck_surveys_answered"),
        Index("uq_surveys_resolution", "ticket_id", "resolution_no", unique=True),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    resolution_no: int = Field(description="The ticket's reopen count at its resolution.")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id")
    expires_at: datetime = ts_field()
    rating: int | None = Field(default=None)
    comment: str | None = Field(default=None, max_length=4000)
    answered_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
