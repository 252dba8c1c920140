"""Major incidents (重大事故, DOMAIN section 5): a P1 affecting many customers or a key
system; immediate notice to the emergency group and management, status updates at a set
interval until resolved."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field


class MajorIncident(SQLModel, table=True):
    __tablename__ = "major_incidents"
    __table_args__ = (
        enum_check("state", ("open", "resolved"), "ck_major_incidents_state"),
        enum_check("trigger", ("manual", "auto"), "ck_major_incidents_trigger"),
        # One open incident per product family: the automatic declaration and a person
        # declaring the same outage at once make one incident.
        Index(
            "uq_major_incidents_open_family",
            "product_family",
            unique=True,
            postgresql_where=text("state = 'open' AND product_family IS NOT NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    title: str = Field(max_length=300)
    description: str = Field(default="", max_length=20000)
    product_family: str | None = Field(default=None, foreign_key="product_families.code",
                                       max_length=64)  # fmt: skip
    trigger: str = Field(default="manual", max_length=8)
    declared_by: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    state: str = Field(default="open", max_length=10)
    update_interval_minutes: int = Field(default=30)
    next_update_due_at: datetime | None = ts_field(nullable=True)
    last_update_at: datetime | None = ts_field(nullable=True)
    resolution_summary: str | None = Field(default=None, max_length=20000)
    resolved_at: datetime | None = ts_field(nullable=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class IncidentTicket(SQLModel, table=True):
    __tablename__ = "incident_tickets"
    __table_args__ = (Index("ix_incident_tickets_ticket_id", "ticket_id"),)

    incident_id: uuid.UUID = Field(primary_key=True, foreign_key="major_incidents.id")
    ticket_id: uuid.UUID = Field(primary_key=True, foreign_key="tickets.id")
    linked_at: datetime = ts_field()


class IncidentUpdate(SQLModel, table=True):
    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_incident_id_id", "incident_id", "id"),)

    id: uuid.UUID = id_field()
    incident_id: uuid.UUID = Field(foreign_key="major_incidents.id")
    body: str = Field(max_length=20000)
    author_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id")
    created_at: datetime = ts_field()
