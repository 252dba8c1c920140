"""Timer handlers of the SLA domain: a clock passing its warning point or falling due."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.sla import service
from app.sla.models import TicketClock
from app.timers.models import Timer
from app.timers.service import handler


async def _announce(uow: UnitOfWork, timer: Timer, now: datetime, kind: str) -> None:
    # Locked: a ticket change (pause, stop) racing the timer either happened first (the
    # clock is no longer running, nothing is announced) or waits for this transaction.
    clock = await uow.session.get(TicketClock, timer.subject_id, with_for_update=True)
    if clock is not None:
        await service.announce(uow, clock, kind, now)


@handler(service.WARN)
async def sla_warning(uow: UnitOfWork, timer: Timer, now: datetime) -> None:
    await _announce(uow, timer, now, service.WARN)


@handler(service.BREACH)
async def sla_breach(uow: UnitOfWork, timer: Timer, now: datetime) -> None:
    await _announce(uow, timer, now, service.BREACH)
