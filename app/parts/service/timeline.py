"""A spare-parts step on its ticket's timeline and in the outbox: one event through the
tickets interface (the only writer of `ticket_events`)."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.db import UnitOfWork
from app.tickets import interface as tickets
from app.tickets.interface import Ticket

SYSTEM = tickets.SYSTEM


async def note(
    uow: UnitOfWork,
    actor: Any,
    ticket: Ticket | uuid.UUID,
    type_: str,
    data: dict[str, Any],
    channel: str | None = None,
) -> None:
    """Records `type_` (e.g. `part_request.dispatched`) on the ticket with `data`; `actor`
    is the principal, or SYSTEM for a timer. A ticket given by id is read unscoped: the
    caller has already checked it may act on it."""
    if not isinstance(ticket, Ticket):
        found = await tickets.get_any(uow, ticket)
        if found is None:
            return
        ticket = found
    tickets.record_event(uow, ticket, actor, channel, type_, data=data)
