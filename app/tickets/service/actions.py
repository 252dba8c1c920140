"""The lifecycle actions (acknowledge, assign, start, wait, resume, resolve, confirm,
reopen, cancel), each a transition of the state machine (lifecycle.py) with what it
stamps on the ticket, dispatched through a table."""

from __future__ import annotations

import uuid
from typing import Any

from app.core import events
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    Conflict,
    InvalidTransition,
)
from app.core.etag import check_if_match
from app.core.security import Principal
from app.sla import service as sla
from app.tickets import lifecycle, repository
from app.tickets.events import (
    TicketChanged,
    holding,
)
from app.tickets.models import (
    Ticket,
)
from app.tickets.service.changes import _event, _owner_check, _snapshot, touch
from app.tickets.service.views import allowed_actions


async def act(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    action: str,
    body: dict[str, Any],
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    """Runs one lifecycle action; an action the state does not allow answers 409 naming
    the current state and what is allowed."""
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    now = get_clock().now()
    allowed = allowed_actions(ticket, now)
    if action not in allowed:
        detail = f"Cannot {action} a ticket that is '{ticket.status}'."
        if action == "reopen" and ticket.status == "closed":
            detail = (
                f"The ticket was closed more than {get_settings().reopen_window_days} days "
                "ago and can no longer be reopened."
            )
        raise InvalidTransition(detail, current_state=ticket.status, allowed_actions=allowed)
    fields = ["status", "owner_id"]
    before = _snapshot(ticket, fields)
    held = holding(ticket)
    data: dict[str, Any] = {}
    note = body.get("note")
    if note:
        data["note"] = note
    new_status = lifecycle.target_status(action, ticket.status, body.get("on"))

    if action in ("acknowledge", "start"):
        owner = body.get("owner_id") or ticket.owner_id or principal.id
        if owner != ticket.owner_id:
            await _owner_check(uow, ticket, owner)
            ticket.owner_id = owner
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = now
    elif action == "assign":
        owner = body["owner_id"]
        await _owner_check(uow, ticket, owner)
        if owner == ticket.owner_id and new_status == ticket.status:
            raise Conflict("The ticket already has this owner.", field="owner_id")
        if owner == ticket.secondary_owner_id:
            raise Conflict("The secondary owner cannot also be the primary.", field="owner_id")
        if body.get("reason"):
            data["reason"] = body["reason"]
        data["mode"] = "manual"
        ticket.owner_id = owner
    elif action == "wait":
        data["waiting_on"] = body["on"]
    elif action == "resolve":
        ticket.resolution_summary = body["resolution_summary"]
        ticket.resolved_at = now
        fields.append("resolution_summary")
    elif action == "confirm":
        ticket.closed_at = now
        ticket.close_reason = "confirmed_by_reporter"
        if body.get("contact_id"):
            data["contact_id"] = str(body["contact_id"])
    elif action == "reopen":
        data["reason"] = body["reason"]
        data["reopened_from"] = ticket.status
        ticket.reopen_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.close_reason = None
    elif action == "cancel":
        data["reason"] = body["reason"]
        ticket.cancelled_at = now

    ticket.status = new_status
    after = _snapshot(ticket, fields)
    touch(ticket)
    type_ = {
        "acknowledge": "ticket.acknowledged",
        "assign": "ticket.assigned",
        "start": "ticket.started",
        "wait": "ticket.waiting",
        "resume": "ticket.resumed",
        "resolve": "ticket.resolved",
        "confirm": "ticket.closed",
        "reopen": "ticket.reopened",
        "cancel": "ticket.cancelled",
    }[action]
    _event(uow, ticket, principal, channel, type_, before, after, data or None)
    # The load moves with the ticket (an engineer gaining it by an assignment, or by
    # taking it, must have room; a ticket coming back to its owner on reopen is his) and
    # open handoffs end when it changes hands: assignment's handlers.
    moved = ticket.owner_id != held.owner_id
    await events.publish(
        uow, TicketChanged(ticket, held, holding(ticket), now, moved, principal, channel)
    )
    await uow.session.flush()
    await sla.on_action(uow, ticket, action, body.get("on"), now)
    if action in ("acknowledge", "start") and before["owner_id"] != after["owner_id"]:
        _event(
            uow,
            ticket,
            principal,
            channel,
            "ticket.assigned",
            {"owner_id": before["owner_id"]},
            {"owner_id": after["owner_id"]},
        )
    await uow.session.flush()
    return ticket
