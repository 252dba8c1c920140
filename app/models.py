"""Imports every domain's tables so SQLModel.metadata is complete (Alembic, tests)."""

from app.access.models import ApiKey
from app.assignment.models import Handoff
from app.branches.models import Branch
from app.calendars.models import Calendar
from app.callbacks.models import (
    Callback,
    CallbackAttempt,
    CallbackPolicy,
    ContactPlan,
    Survey,
)
from app.catalogue.models import Category, ProductFamily, ServiceLevel
from app.contracts.models import Contract, ContractDevice
from app.core.idempotency import IdempotencyRecord
from app.customers.models import Contact, Customer
from app.devices.models import Device
from app.escalation.models import Escalation, EscalationNotice, EscalationPolicy
from app.hooks.models import (
    HookAlert,
    HookRequest,
    HookSource,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from app.incidents.models import IncidentTicket, IncidentUpdate, MajorIncident
from app.mail.models import (
    EmailDelivery,
    EmailDeliveryAttempt,
    InboundMessage,
    MailSuppression,
    NotificationProfile,
    NotificationRule,
    NotificationSubscription,
)
from app.outbox.models import ConsumerReceipt, OutboxMessage
from app.parts.models import (
    Loan,
    Part,
    PartFit,
    PartRequest,
    Reservation,
    Rma,
    Serial,
    StockBalance,
    StockMovement,
    StockTransfer,
    Warehouse,
    WarehouseRank,
)
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
    "Callback",
    "CallbackAttempt",
    "CallbackPolicy",
    "Category",
    "ClockSegment",
    "ConsumerReceipt",
    "Contact",
    "ContactPlan",
    "Contract",
    "ContractDevice",
    "Customer",
    "Device",
    "EmailDelivery",
    "EmailDeliveryAttempt",
    "Engineer",
    "EngineerSkill",
    "Escalation",
    "EscalationNotice",
    "EscalationPolicy",
    "Handoff",
    "HookAlert",
    "HookRequest",
    "HookSource",
    "IdempotencyRecord",
    "InboundMessage",
    "IncidentTicket",
    "IncidentUpdate",
    "Loan",
    "MailSuppression",
    "MajorIncident",
    "NotificationProfile",
    "NotificationRule",
    "NotificationSubscription",
    "OnCallRotation",
    "OutboxMessage",
    "Part",
    "PartFit",
    "PartRequest",
    "ProductFamily",
    "Reservation",
    "Rma",
    "Serial",
    "ServiceLevel",
    "Shift",
    "SlaPolicy",
    "SlaTarget",
    "StockBalance",
    "StockMovement",
    "StockTransfer",
    "Survey",
    "Team",
    "Ticket",
    "TicketAttempt",
    "TicketClock",
    "TicketComment",
    "TicketEvent",
    "TicketVisit",
    "Timer",
    "Warehouse",
    "WarehouseRank",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
