"""Timer handler of the SLA domain: a clock reaching its warning point or its due time."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.sla import service
from app.sla.models import TicketClock
from app.timers.models import Timer
from app.timers.service import handler


@handler(service.CLOCK_TIMER)
async def sla_clock(uow: UnitOfWork, timer: Timer, now: datetime) -> datetime | None:
    # Locked: a ticket change (pause, stop) racing the timer either happened first (the
    # clock no longer runs, or its timer has a new version and this job is stale) or
    # waits for this transaction.
    clock = await uow.session.get(TicketClock, timer.subject_id, with_for_update=True)
    if clock is None:
        return None
    return await service.on_timer(uow, clock, now)
