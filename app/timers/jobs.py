"""Worker entry points of the timers (thin: the rules are in service.py)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.core.db import open_uow
from app.core.metrics import JOB_FAILURES
from app.timers import service

log = logging.getLogger("supportline.timers")
SCHEDULE_JOB_TIMEOUT_SECONDS = 60


async def fire_timer(ctx: dict[str, Any], timer_id: str, version: int) -> str:
    try:
        outcome = "stale"
        async for uow in open_uow():
            outcome = await service.fire(uow, uuid.UUID(timer_id), version)
        return outcome
    except Exception:
        JOB_FAILURES.labels("fire_timer").inc()
        log.exception("timer failed", extra={"fields": {"timer_id": timer_id}})
        raise


async def schedule_timers(ctx: dict[str, Any]) -> int:
    """The scheduler pass, as a cron on every worker; the advisory lock inside makes
    concurrent passes (several workers) give way to the one already running."""
    try:
        total = 0
        while True:
            handed: int | None = None
            async for uow in open_uow():
                handed = await service.schedule_due(uow)
            if not handed:
                return total
            total += handed
            if handed < 5000:
                return total
    except Exception:
        JOB_FAILURES.labels("schedule_timers").inc()
        log.exception("timer scheduling failed")
        raise
