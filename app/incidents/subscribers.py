"""Major incidents' reactions to ticket events (`app.core.events`)."""

from __future__ import annotations

from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.incidents.service import CHECK_TIMER
from app.tickets.events import TicketCreating


@subscribe(TicketCreating, order=10)
async def check_new_p1(uow: UnitOfWork, event: TicketCreating) -> None:
    """A P1 on a device gets a check, durable with the ticket: a worker links it to its
    product family's major incident, or declares one, right after the commit."""
    p1_on_a_device = event.priority == "P1" and event.device_id is not None
    if p1_on_a_device and get_settings().incident_auto_threshold:
        event.timers.append((CHECK_TIMER, event.now))
