"""Timer handlers of major incidents: a status update falling due, and the check a new P1
ticket asks for (link it, or declare an incident)."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.incidents import service
from app.timers.service import DueTimer, handler


@handler(service.UPDATE_TIMER)
async def update_due(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await service.update_due(uow, timer.subject_id, now)


@handler(service.CHECK_TIMER)
async def check_p1(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await service.check_p1(uow, timer.subject_id, now)
