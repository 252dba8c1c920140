"""The lifecycle actions (acknowledge, assign, start, wait, resume, resolve, confirm,
reopen, cancel), each a transition of the state machine (lifecycle.py) with what it
stamps on the ticket, dispatched through a table."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass
class Step:
    """One action's run: the ticket, the request's body, the timeline event's `data`
    (filled by the action) and the fields its before/after snapshot shows."""

    uow: UnitOfWork
    principal: Principal
    ticket: Ticket
    body: dict[str, Any]
    now: datetime
    new_status: str
    data: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=lambda: ["status", "owner_id"])


async def _take(s: Step) -> None:  # acknowledge, start: the one who acts owns it
    t = s.ticket
    owner = s.body.get("owner_id") or t.owner_id or s.principal.id
    if owner != t.owner_id:
        await _owner_check(s.uow, t, owner)
        t.owner_id = owner
    if t.acknowledged_at is None:
        t.acknowledged_at = s.now


async def _assign(s: Step) -> None:
    t, owner = s.ticket, s.body["owner_id"]
    await _owner_check(s.uow, t, owner)
    if owner == t.owner_id and s.new_status == t.status:
        raise Conflict("The ticket already has this owner.", field="owner_id")
    if owner == t.secondary_owner_id:
        raise Conflict("The secondary owner cannot also be the primary.", field="owner_id")
    if s.body.get("reason"):
        s.data["reason"] = s.body["reason"]
    s.data["mode"] = "manual"
    t.owner_id = owner


async def _wait(s: Step) -> None:
    s.data["waiting_on"] = s.body["on"]


async def _resume(s: Step) -> None:
    return None


async def _resolve(s: Step) -> None:
    s.ticket.resolution_summary = s.body["resolution_summary"]
    s.ticket.resolved_at = s.now
    s.fields.append("resolution_summary")


async def _confirm(s: Step) -> None:
    s.ticket.closed_at = s.now
    # The API's body cannot carry `close_reason` (ConfirmBody forbids it); the domains
    # that close on the customer's behalf pass theirs (`closed_by_silence`, ...).
    s.ticket.close_reason = s.body.get("close_reason") or "confirmed_by_reporter"
    if s.ticket.close_reason != "confirmed_by_reporter":
        s.data["close_reason"] = s.ticket.close_reason
    if s.body.get("contact_id"):
        s.data["contact_id"] = str(s.body["contact_id"])


async def _reopen(s: Step) -> None:
    t = s.ticket
    s.data["reason"] = s.body["reason"]
    s.data["reopened_from"] = t.status
    t.reopen_count += 1
    t.resolved_at = t.closed_at = t.close_reason = None


async def _cancel(s: Step) -> None:
    s.data["reason"] = s.body["reason"]
    s.ticket.cancelled_at = s.now


# action -> (what it stamps on the ticket, the timeline event it records)
ACTIONS: dict[str, tuple[Callable[[Step], Awaitable[None]], str]] = {
    "acknowledge": (_take, "ticket.acknowledged"),
    "assign": (_assign, "ticket.assigned"),
    "start": (_take, "ticket.started"),
    "wait": (_wait, "ticket.waiting"),
    "resume": (_resume, "ticket.resumed"),
    "resolve": (_resolve, "ticket.resolved"),
    "confirm": (_confirm, "ticket.closed"),
    "reopen": (_reopen, "ticket.reopened"),
    "cancel": (_cancel, "ticket.cancelled"),
}


def _check_allowed(ticket: Ticket, action: str, now: datetime) -> None:
    allowed = allowed_actions(ticket, now)
    if action in allowed:
        return
    detail = f"Cannot {action} a ticket that is '{ticket.status}'."
    if action == "reopen" and ticket.status == "closed":
        detail = (
            f"The ticket was closed more than {get_settings().reopen_window_days} days "
            "ago and can no longer be reopened."
        )
    raise InvalidTransition(detail, current_state=ticket.status, allowed_actions=allowed)


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
    _check_allowed(ticket, action, now)
    stamp, event_type = ACTIONS[action]
    new_status = lifecycle.target_status(action, ticket.status, body.get("on"))
    step = Step(uow, principal, ticket, body, now, new_status)
    if body.get("note"):
        step.data["note"] = body["note"]
    before, held = _snapshot(ticket, step.fields), holding(ticket)
    await stamp(step)
    ticket.status = new_status
    after = _snapshot(ticket, step.fields)
    touch(ticket)
    _event(uow, ticket, principal, channel, event_type, before, after, step.data or None)
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
        _event(uow, ticket, principal, channel, "ticket.assigned",
               {"owner_id": before["owner_id"]}, {"owner_id": after["owner_id"]})  # fmt: skip
    await uow.session.flush()
    return ticket
