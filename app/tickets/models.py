"""Tickets (工单) and what hangs off them: timeline events, comments, attempts, visits,
attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from app.core.channels import CHANNELS
from app.core.columns import enum_check, id_field, ts_field

SERVICE_TYPES = ("remote", "onsite", "proactive", "training", "installation", "upgrade")
PRIORITIES = ("P1", "P2", "P3", "P4")
SUPPORT_LINES = ("l1", "l2", "l3", "vendor")
LEVELS = ("high", "medium", "low")
STATUSES = (
    "new",
    "assigned",
    "in_progress",
    "waiting_customer",
    "waiting_parts",
    "waiting_vendor",
    "resolved",
    "closed",
    "cancelled",
)
OPEN_STATUSES = STATUSES[:6]


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        enum_check("channel", CHANNELS, "ck_tickets_channel"),
        enum_check("service_type", SERVICE_TYPES, "ck_tickets_service_type"),
        enum_check("priority", PRIORITIES, "ck_tickets_priority"),
        enum_check("status", STATUSES, "ck_tickets_status"),
        enum_check("impact", LEVELS, "ck_tickets_impact"),
        enum_check("urgency", LEVELS, "ck_tickets_urgency"),
        enum_check("support_line", SUPPORT_LINES, "ck_tickets_support_line"),
        # List queries are "filter, newest first by id": each index ends in id so a
        # cursor page is an index range scan, whatever the table size.
        Index("ix_tickets_branch_id_id", "branch_id", "id"),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_priority_id", "priority", "id"),
        Index("ix_tickets_customer_id_id", "customer_id", "id"),
        Index("ix_tickets_device_id_id", "device_id", "id"),
        Index("ix_tickets_owner_id_id", "owner_id", "id"),
        Index("ix_tickets_category_id", "category", "id"),
        Index("ix_tickets_channel_id", "channel", "id"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_search", "search_vector", postgresql_using="gin"),
    )

    id: uuid.UUID = id_field()
    number: str = Field(max_length=20, unique=True)
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="devices.id")
    contract_id: uuid.UUID | None = Field(default=None, foreign_key="contracts.id")
    uncontracted: bool = Field(default=False)
    service_level: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=16)
    category: str = Field(foreign_key="categories.code", max_length=64)
    service_type: str = Field(max_length=16)
    impact: str | None = Field(default=None, max_length=8)
    urgency: str | None = Field(default=None, max_length=8)
    priority: str = Field(max_length=2)
    priority_source: str = Field(default="given", max_length=8)
    status: str = Field(default="new", max_length=20)
    subject: str = Field(max_length=300)
    description: str = Field(default="", max_length=20000)
    product_version: str | None = Field(default=None, max_length=100)
    affected_system: str | None = Field(default=None, max_length=300)
    fault_started_at: datetime | None = ts_field(nullable=True)
    external_ref: str | None = Field(default=None, max_length=200)
    owner_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    secondary_owner_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    # Which support line works it now (escalation moves it): l1, l2, l3 (R&D), vendor.
    support_line: str = Field(default="l1", max_length=8, sa_column_kwargs={"server_default": "l1"})
    created_by: uuid.UUID = Field(foreign_key="api_keys.id")
    resolution_summary: str | None = Field(default=None, max_length=20000)
    acknowledged_at: datetime | None = ts_field(nullable=True)
    resolved_at: datetime | None = ts_field(nullable=True)
    closed_at: datetime | None = ts_field(nullable=True)
    close_reason: str | None = Field(default=None, max_length=32)
    cancelled_at: datetime | None = ts_field(nullable=True)
    reopen_count: int = Field(default=0)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    search_vector: Any = Field(default=None, sa_column=Column(TSVECTOR, nullable=True))


class TicketEvent(SQLModel, table=True):
    """The timeline (可追溯): one row per change, written in the change's transaction."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),)

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    type: str = Field(max_length=64)
    actor_id: uuid.UUID | None = Field(default=None)
    actor_name: str | None = Field(default=None, max_length=200)
    actor_role: str | None = Field(default=None, max_length=20)
    channel: str | None = Field(default=None, max_length=16)
    at: datetime = ts_field()
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    data: dict[str, Any] | None = Field(default=None, sa_type=JSONB)


class TicketComment(SQLModel, table=True):
    __tablename__ = "ticket_comments"
    __table_args__ = (
        enum_check("visibility", ("public", "internal"), "ck_ticket_comments_visibility"),
        Index("ix_ticket_comments_ticket_id_id", "ticket_id", "id"),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    author_id: uuid.UUID = Field(foreign_key="api_keys.id")
    visibility: str = Field(default="public", max_length=10)
    body: str = Field(max_length=20000)
    created_at: datetime = ts_field()


class TicketAttempt(SQLModel, table=True):
    """A diagnosis or fix try (工作日志); failed attempts count toward escalation."""

    __tablename__ = "ticket_attempts"
    __table_args__ = (
        enum_check("kind", ("diagnosis", "fix"), "ck_ticket_attempts_kind"),
        enum_check("outcome", ("failed", "partial", "fixed"), "ck_ticket_attempts_outcome"),
        Index("ix_ticket_attempts_ticket_id_id", "ticket_id", "id"),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    engineer_id: uuid.UUID = Field(foreign_key="api_keys.id")
    kind: str = Field(max_length=10)
    description: str = Field(max_length=20000)
    outcome: str = Field(max_length=10)
    minutes_spent: int | None = None
    created_at: datetime = ts_field()


class TicketVisit(SQLModel, table=True):
    """An on-site visit (现场): arrival and departure times."""

    __tablename__ = "ticket_visits"
    __table_args__ = (Index("ix_ticket_visits_ticket_id_id", "ticket_id", "id"),)

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    engineer_id: uuid.UUID = Field(foreign_key="api_keys.id")
    arrived_at: datetime = ts_field()
    departed_at: datetime | None = ts_field(nullable=True)
    notes: str | None = Field(default=None, max_length=20000)
    version: int = Field(default=1)
    created_at: datetime = ts_field()


class Attachment(SQLModel, table=True):
    """Metadata; the bytes live in `attachment_blobs` so listing never loads them."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_ticket_id_id", "ticket_id", "id"),)

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by: uuid.UUID = Field(foreign_key="api_keys.id")
    created_at: datetime = ts_field()


class AttachmentBlob(SQLModel, table=True):
    __tablename__ = "attachment_blobs"

    attachment_id: uuid.UUID = Field(
        foreign_key="attachments.id", primary_key=True, ondelete="CASCADE"
    )
    data: bytes = Field(sa_type=LargeBinary)
