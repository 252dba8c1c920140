"""Imports every domain's tables so SQLModel.metadata is complete (Alembic, tests)."""

from app.access.models import ApiKey
from app.assignment.models import Handoff
from app.branches.models import Branch
from app.calendars.models import Calendar
from app.catalogue.models import Category, ProductFamily, ServiceLevel
from app.contracts.models import Contract, ContractDevice
from app.core.idempotency import IdempotencyRecord
from app.customers.models import Contact, Customer
from app.devices.models import Device
from app.escalation.models import Escalation, EscalationNotice, EscalationPolicy
from app.incidents.models import IncidentTicket, IncidentUpdate, MajorIncident
from app.outbox.models import ConsumerReceipt, OutboxMessage
from app.people.models import Absence, Engineer, EngineerSkill, OnCallRotation, Shift, Team
from app.sla.models import ClockSegment, SlaPolicy, SlaTarget, TicketClock
from app.tickets.models import (
    Attachment,
    AttachmentBlob,
    Ticket,
    TicketAttempt,
    TicketComment,
    TicketEvent,
    TicketVisit,
)
from app.timers.models import Timer

__all__ = [
    "Absence",
    "ApiKey",
    "Attachment",
    "AttachmentBlob",
    "Branch",
    "Calendar",
    "Category",
    "ClockSegment",
    "ConsumerReceipt",
    "Contact",
    "Contract",
    "ContractDevice",
    "Customer",
    "Device",
    "Engineer",
    "EngineerSkill",
    "Escalation",
    "EscalationNotice",
    "EscalationPolicy",
    "Handoff",
    "IdempotencyRecord",
    "IncidentTicket",
    "IncidentUpdate",
    "MajorIncident",
    "OnCallRotation",
    "OutboxMessage",
    "ProductFamily",
    "ServiceLevel",
    "Shift",
    "SlaPolicy",
    "SlaTarget",
    "Team",
    "Ticket",
    "TicketAttempt",
    "TicketClock",
    "TicketComment",
    "TicketEvent",
    "TicketVisit",
    "Timer",
]
