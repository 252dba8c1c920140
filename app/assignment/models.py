"""Handoffs from a ticket's primary owner to its secondary (DOMAIN section 4)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

HANDOFF_STATES = ("open", "reported", "cancelled")


class Handoff(SQLModel, table=True):
    """What the primary hands to the secondary, until when; the secondary reports back,
    which returns the lead to the primary. An open handoff past `until` raises a timer."""

    __tablename__ = "ticket_handoffs"
    __table_args__ = (
        enum_check("state", HANDOFF_STATES, "ck_ticket_handoffs_state"),
        Index("ix_ticket_handoffs_ticket_id_id", "ticket_id", "id"),
    )

    id: uuid.UUID = id_field()
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    from_id: uuid.UUID = Field(foreign_key="api_keys.id")
    to_id: uuid.UUID = Field(foreign_key="api_keys.id")
    what: str = Field(max_length=2000)
    until: datetime = ts_field()
    state: str = Field(default="open", max_length=10)
    report: str | None = Field(default=None, max_length=20000)
    reported_at: datetime | None = ts_field(nullable=True)
    overdue_at: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
