"""Timer handler of the SLA domain: clocks reaching their warning point or due time."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.core.db import UnitOfWork
from app.sla import announcements
from app.sla.service import CLOCK_TIMER
from app.timers.service import DueTimer, batch_handler


@batch_handler(CLOCK_TIMER)
async def sla_clocks(
    uow: UnitOfWork, due: list[DueTimer], now: datetime
) -> dict[uuid.UUID, datetime]:
    # The clocks are locked: a ticket change (pause, stop) racing the timers either
    # happened first (the clock no longer runs, or its timer has a new version and was
    # not taken) or waits for this transaction.
    timer_of = {t.subject_id: t.id for t in due}
    again = await announcements.on_timers(uow, list(timer_of), now)
    return {timer_of[clock_id]: at for clock_id, at in again.items()}
