"""Timer handlers of part requests: the defective part's return falling due."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.parts.service import requests
from app.timers.service import DueTimer, handler


@handler(requests.RETURN_TIMER)
async def defective_return_due(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await requests.return_overdue(uow, timer.subject_id)
