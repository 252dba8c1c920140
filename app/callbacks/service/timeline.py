"""A callbacks step on its ticket's timeline and in the outbox: through the tickets
interface (the one writer of `ticket_events`, which adds the outbox row) for what
concerns a ticket, straight to the outbox (aggregate `callback`) for a contact plan's
call, which has no ticket."""

from __future__ import annotations

from typing import Any

from app.access.defaults import system_principal
from app.callbacks.models import Callback
from app.core.db import UnitOfWork
from app.core.security import Principal
from app.outbox.service import publish
from app.tickets import interface as tickets
from app.tickets.interface import Ticket


def system() -> Principal:
    """Who acts when nobody did by hand (a resolution's follow-up, a timer)."""
    return system_principal()


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def callback_data(callback: Callback, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "callback_id": str(callback.id),
        "reason": callback.reason,
        "ticket_id": str(callback.ticket_id) if callback.ticket_id else None,
        "plan_id": str(callback.plan_id) if callback.plan_id else None,
        "branch_id": str(callback.branch_id),
        "customer_id": str(callback.customer_id),
        "contact_id": str(callback.contact_id) if callback.contact_id else None,
        "agent_id": str(callback.agent_id) if callback.agent_id else None,
        "due_at": callback.due_at.isoformat(),
        "state": callback.state,
        "outcome": callback.outcome,
        "attempts": callback.attempts,
    }
    return data | {k: _iso(v) for k, v in extra.items()}


async def note(
    uow: UnitOfWork,
    actor: Any,
    ticket: Ticket,
    type_: str,
    data: dict[str, Any],
    channel: str | None = None,
) -> None:
    tickets.record_event(uow, ticket, actor, channel, type_, data=data)


async def announce(
    uow: UnitOfWork,
    actor: Any,
    callback: Callback,
    type_: str,
    ticket: Ticket | None = None,
    channel: str | None = None,
    **extra: Any,
) -> None:
    """`type_` (callback.scheduled, .attempted, ...) with the callback's facts: on the
    ticket's timeline and in the outbox, or only in the outbox for a plan's call."""
    data = callback_data(callback, **extra)
    if callback.ticket_id is None:
        publish(uow, type_, "callback", callback.id, data)
        return
    if ticket is None:
        ticket = await tickets.get_any(uow, callback.ticket_id)
        if ticket is None:
            return
    await note(uow, actor, ticket, type_, data, channel)
