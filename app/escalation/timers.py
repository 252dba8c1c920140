"""Timer handlers of escalation: the functional escalation an SLA warning or breach asked
for, and the levels of the hierarchical notice chain (notices.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.core.db import UnitOfWork
from app.escalation import notices, service
from app.escalation.sla import ESCALATE_TIMER, NOTICE_TIMER
from app.timers.service import DueTimer, batch_handler


@batch_handler(ESCALATE_TIMER)
async def escalate(
    uow: UnitOfWork, due: list[DueTimer], now: datetime
) -> dict[uuid.UUID, datetime]:
    await service.sla_escalations(uow, [t.subject_id for t in due], now)
    return {}


@batch_handler(NOTICE_TIMER)
async def notice(uow: UnitOfWork, due: list[DueTimer], now: datetime) -> dict[uuid.UUID, datetime]:
    await notices.send(uow, [t.subject_id for t in due], now)
    return {}
