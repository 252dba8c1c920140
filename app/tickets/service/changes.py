"""Changing a ticket outside the lifecycle: its fields (`update`), its owner (`set_owner`,
through the state machine's `assign`), and what every change does (`touch`: version and
`updated_at`; the before/after snapshot of its timeline event)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.core import events
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import (
    InvalidTransition,
    Unprocessable,
)
from app.core.etag import check_if_match
from app.core.search import document
from app.core.security import Principal
from app.sla import service as sla
from app.tickets import lifecycle, repository
from app.tickets.events import Holding, TicketChanged, holding
from app.tickets.models import (
    SUPPORT_LINES,
    Ticket,
)
from app.tickets.schemas import (
    TicketUpdate,
)
from app.tickets.service.creation import BUSINESS_ZONE
from app.tickets.service.views import allowed_actions
from app.tickets.timeline import record_event


def _snapshot(ticket: Ticket, fields: list[str]) -> dict[str, Any]:
    return {f: _jsonable(getattr(ticket, f)) for f in fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


_event = record_event


def touch(ticket: Ticket) -> None:
    """A change of the ticket: its version (the ETag) and `updated_at` move."""
    ticket.version += 1
    ticket.updated_at = get_clock().now()


_UPDATABLE = [
    "subject",
    "description",
    "category",
    "service_type",
    "priority",
    "impact",
    "urgency",
    "contact_id",
    "device_id",
    "fault_started_at",
    "affected_system",
    "product_version",
]


def _check_editable(ticket: Ticket) -> None:
    if ticket.status in ("closed", "cancelled"):
        raise InvalidTransition(
            f"A {ticket.status} ticket cannot be edited; reopen it first.",
            current_state=ticket.status,
            allowed_actions=allowed_actions(ticket),
        )


def _requested(ticket: Ticket, data: TicketUpdate) -> dict[str, Any]:
    """The fields the PATCH sets, with the priority derived again from a new impact or
    urgency (unless a priority is given)."""
    changes = data.model_dump(exclude_unset=True)
    for required in ("subject", "category", "service_type", "description"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null.", field=required)
    if "priority" in changes and changes["priority"] is None:
        changes.pop("priority")
    impact = changes.get("impact", ticket.impact)
    urgency = changes.get("urgency", ticket.urgency)
    if "priority" in changes:
        changes["priority_source"] = "given"
    elif ("impact" in changes or "urgency" in changes) and impact and urgency:
        changes["priority"] = lifecycle.PRIORITY_MATRIX[(impact, urgency)]
        changes["priority_source"] = "derived"
    return changes


async def _check_context(uow: UnitOfWork, ticket: Ticket, changes: dict[str, Any]) -> None:
    """A new contact, device or category is checked against the ticket's customer; a
    new device brings its covering contract (and so the service level) with it."""
    if not ("contact_id" in changes or "device_id" in changes or "category" in changes):
        return
    today = get_clock().now().astimezone(BUSINESS_ZONE).date()
    ctx = await repository.create_context(
        uow,
        ticket.customer_id,
        changes.get("contact_id", ticket.contact_id),
        changes.get("device_id", ticket.device_id),
        changes.get("category", ticket.category),
        today,
    )
    if changes.get("contact_id") is not None and ctx.contact_customer_id != ticket.customer_id:
        raise Unprocessable("The contact does not belong to the customer.", field="contact_id")
    if changes.get("device_id") is not None and ctx.device_customer_id != ticket.customer_id:
        raise Unprocessable("The device does not belong to the customer.", field="device_id")
    if "category" in changes and not ctx.category_active:
        raise Unprocessable(
            f"Unknown or inactive category '{changes['category']}'.", field="category"
        )
    if "device_id" in changes:
        changes["contract_id"] = ctx.contract_id
        changes["uncontracted"] = ctx.contract_id is None
        changes["service_level"] = ctx.contract_level or ctx.default_level


async def update(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: TicketUpdate,
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    _check_editable(ticket)
    changes = _requested(ticket, data)
    if not changes:
        return ticket
    await _check_context(uow, ticket, changes)
    fields = [f for f in changes if getattr(ticket, f) != changes[f]]
    if not fields:
        return ticket
    before, held = _snapshot(ticket, fields), holding(ticket)
    for f in fields:
        setattr(ticket, f, changes[f])
    if "subject" in fields or "description" in fields:
        ticket.search_vector = text_vector(ticket.subject, ticket.description)
    touch(ticket)
    _event(uow, ticket, principal, channel, "ticket.updated", before, _snapshot(ticket, fields))
    if "priority" in fields:
        await _priority_changed(uow, ticket, principal, channel, before, held)
    if {"priority", "service_level", "service_type"} & set(fields):
        await uow.session.flush()
        targets = await sla.recompute(uow, ticket, get_clock().now())
        if targets:
            _event(uow, ticket, principal, channel, "sla.recomputed", data={"targets": targets})
    await uow.session.flush()
    return ticket


async def _priority_changed(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    before: dict[str, Any],
    held: Holding,
) -> None:
    # The owner's load is weighted by priority (assignment's handler).
    now = get_clock().now()
    await events.publish(
        uow, TicketChanged(ticket, held, holding(ticket), now, False, principal, channel)
    )
    _event(uow, ticket, principal, channel, "ticket.priority_changed",
           {"priority": before["priority"]}, {"priority": ticket.priority})  # fmt: skip


def text_vector(subject: str, description: str) -> Any:
    from sqlalchemy import func

    return func.to_tsvector("simple", document(subject, description))


async def _owner_check(uow: UnitOfWork, ticket: Ticket, owner_id: uuid.UUID) -> None:
    owner = await repository.owner_branch(uow, owner_id)
    if owner is None or not owner[0]:
        raise Unprocessable("owner_id does not name an active API identity.", field="owner_id")
    if owner[1] is not None and owner[1] != ticket.branch_id:
        raise Unprocessable("The owner works for another branch.", field="owner_id")


def set_owner(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    owner_id: uuid.UUID | None,
    data: dict[str, Any],
) -> None:
    """Gives the ticket a new primary owner, or none (it waits in its line's queue), by
    the state machine's `assign`: a new ticket becomes assigned when it gains one, and
    no status changes otherwise. Records `ticket.assigned` (`ticket.unassigned` for
    none). The caller has moved the load (assignment/load.py) and ends open handoffs
    (`end_handoffs`)."""
    before = {"owner_id": _jsonable(ticket.owner_id), "status": ticket.status}
    ticket.owner_id = owner_id
    if owner_id is not None:
        ticket.status = lifecycle.target_status("assign", ticket.status)
    touch(ticket)
    after = {"owner_id": _jsonable(owner_id), "status": ticket.status}
    type_ = "ticket.assigned" if owner_id is not None else "ticket.unassigned"
    _event(uow, ticket, principal, channel, type_, before, after, data)


def _require_open_for_work(ticket: Ticket) -> None:
    if ticket.status in ("closed", "cancelled"):
        raise InvalidTransition(
            f"Work cannot be logged on a {ticket.status} ticket.",
            current_state=ticket.status,
            allowed_actions=allowed_actions(ticket),
        )


def set_secondary(ticket: Ticket, secondary_id: uuid.UUID | None) -> None:
    """Names the ticket's secondary owner (or none); the caller has checked who may be
    one, touches the ticket and records the event (assignment)."""
    ticket.secondary_owner_id = secondary_id


def set_line(ticket: Ticket, line: str) -> None:
    """Moves the ticket to a support line; the caller (escalation) touches it and
    records the event."""
    if line not in SUPPORT_LINES:
        raise ValueError(f"not a support line: {line}")
    ticket.support_line = line
