"""Timer handlers of spare parts: loans (a loaner due back soon, and overdue)."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.parts.service import loans as service
from app.timers.service import DueTimer, handler


@handler(service.REMINDER_TIMER)
async def loan_reminder(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await service.reminder_due(uow, timer.subject_id, now)


@handler(service.OVERDUE_TIMER)
async def loan_overdue(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await service.overdue_due(uow, timer.subject_id, now)
