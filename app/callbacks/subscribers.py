"""What callbacks do when tickets change (domain events, in the ticket's transaction): a
resolution starts its follow-up (survey, callback, silence close), leaving it ends it."""

from __future__ import annotations

from app.callbacks.service import followup
from app.core import events
from app.core.db import UnitOfWork
from app.tickets.events import TicketChanged


@events.subscribe(TicketChanged, order=40)
async def on_ticket_changed(uow: UnitOfWork, event: TicketChanged) -> None:
    before, after = event.before.status, event.after.status
    if after == before:
        return
    if after == "resolved":
        await followup.on_resolved(uow, event.ticket, event.at)
    elif before == "resolved":
        await followup.on_left_resolution(uow, event.ticket, after)
