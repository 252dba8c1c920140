"""Open handoffs end when the ticket changes hands: the new primary owner did not make
them, and the secondary they went to may no longer be the secondary. Called on every
owner change (by hand, automatic, by deferral, by escalation), in its transaction; the
caller records the timeline events (assignment.service.end_handoffs)."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.assignment import repository
from app.assignment.models import Handoff
from app.core.db import UnitOfWork
from app.timers import service as timers

HANDOFF_TIMER = "assignment.handoff"


async def cancel_open(uow: UnitOfWork, ticket_id: uuid.UUID, now: datetime) -> list[Handoff]:
    """Cancels the ticket's open handoffs and their overdue timers; returns them. The
    handoff is locked before its timer, as a report does (the timer's handler gives way)."""
    ended = await repository.lock_open_handoffs(uow, ticket_id)
    for h in ended:
        h.state, h.updated_at = "cancelled", now
    if ended:
        await timers.cancel(uow, HANDOFF_TIMER, [h.id for h in ended])
    return ended
