"""What spare parts do when tickets change (domain events, in the ticket's transaction):
a ticket waits on parts only while a part request is open, and a cancelled or closed
ticket gives its reserved parts back."""

from __future__ import annotations

from app.core import events
from app.core.db import UnitOfWork
from app.core.errors import Conflict
from app.parts.service import requests
from app.tickets.events import TicketChanged


@events.subscribe(TicketChanged, order=30)
async def on_ticket_changed(uow: UnitOfWork, event: TicketChanged) -> None:
    before, after = event.before.status, event.after.status
    if after == before:
        return
    if after == "waiting_parts" and not await requests.open_count(uow, event.ticket.id):
        raise Conflict(
            "The ticket can wait on parts only while a part request is open: ask for the "
            "part first (POST /v1/tickets/{id}/part-requests).",
            current_state=before,
        )
    if after in ("cancelled", "closed"):
        await requests.cancel_open(uow, event.actor, event.ticket, f"ticket {after}")
