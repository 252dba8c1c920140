"""Timer handlers of callbacks (listed in app.timers.registry): a callback overdue, a
silent resolved ticket's close, a contact plan's next call."""

from __future__ import annotations

from datetime import datetime

from app.callbacks.service import callbacks, plans, silence
from app.core.db import UnitOfWork
from app.timers.service import DueTimer, handler


@handler(callbacks.OVERDUE_TIMER)
async def callback_overdue(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await callbacks.overdue(uow, timer.subject_id, now)


@handler(silence.SILENCE_TIMER)
async def silence_close(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await silence.close_if_silent(uow, timer.subject_id, now)


@handler(plans.PLAN_TIMER)
async def plan_due(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await plans.due(uow, timer.subject_id, now)
