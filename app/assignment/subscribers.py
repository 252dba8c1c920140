"""Assignment's reactions to ticket events (`app.core.events`): a new ticket whose SLA
policy assigns at once is assigned in its creation's transaction; a change of owner,
status or priority moves the owners' load and ends open handoffs; a new engineer's
load is counted."""

from __future__ import annotations

from app.assignment import load, service
from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.people.events import EngineerCreated
from app.tickets.events import TicketChanged, TicketCreated


@subscribe(TicketCreated, order=10)
async def assign_at_creation(uow: UnitOfWork, event: TicketCreated) -> None:
    if event.auto_assign:
        await service.assign_new(uow, event.principal, event.ticket_id)


@subscribe(TicketChanged, order=10)
async def move_load(uow: UnitOfWork, event: TicketChanged) -> None:
    # Refuses (AtMaximumLoad) an assignment past the new owner's maximum: the change
    # rolls back with it.
    await load.adjust(uow, event.before, event.after, event.at, assigned=event.assigned)


@subscribe(TicketChanged, order=20)
async def end_handoffs(uow: UnitOfWork, event: TicketChanged) -> None:
    before, after = event.before.owner_id, event.after.owner_id
    if before is not None and before != after:  # (a handoff needs an owner)
        await service.end_handoffs(uow, event.ticket, event.actor, event.channel)


@subscribe(EngineerCreated, order=10)
async def count_new_engineers_load(uow: UnitOfWork, event: EngineerCreated) -> None:
    # The identity may own open tickets already (assigned before it had a profile).
    await load.recount(uow, event.engineer_id)
