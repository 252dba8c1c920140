"""Timer handler of the assignment domain: an open handoff past its `until`."""

from __future__ import annotations

from datetime import datetime

from app.assignment import service
from app.core.db import UnitOfWork
from app.timers.service import DueTimer, handler


@handler(service.HANDOFF_TIMER)
async def handoff_overdue(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await service.handoff_overdue(uow, timer.subject_id, now)
