"""Timer handlers of spare parts: an RMA's validity ending (RMA有效时限)."""

from __future__ import annotations

from datetime import datetime

from app.core.db import UnitOfWork
from app.parts.service import rma
from app.timers.service import DueTimer, handler


@handler(rma.EXPIRY_TIMER)
async def rma_expiry(uow: UnitOfWork, timer: DueTimer, now: datetime) -> datetime | None:
    return await rma.expire(uow, timer.subject_id, now)
