"""Worker entry points of the timers (thin: the rules are in service.py)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from app.core.db import open_uow
from app.core.metrics import JOB_FAILURES
from app.timers import service

log = logging.getLogger("supportline.timers")
SCHEDULE_JOB_TIMEOUT_SECONDS = 60


FIRE_BATCH = 100
FIRE_BUDGET_SECONDS = 10.0


async def fire_timer(ctx: dict[str, Any], timer_id: str, version: int) -> str:
    """Wakes on one timer's due time. A stale job (timer moved, cancelled or fired by an
    earlier batch) costs one indexed read; a due one fires every due timer in batches
    (its own among them), each batch its own transaction."""
    try:
        tid = uuid.UUID(timer_id)
        due: bool | None = None
        async for uow in open_uow():
            due = await service.still_due(uow, tid, version)
        if due is None:
            return "stale"
        if not due:
            outcome = "stale"
            async for uow in open_uow():
                outcome = await service.fire(uow, tid, version)  # records the early wake
            return outcome
        deadline = time.monotonic() + FIRE_BUDGET_SECONDS
        taken, failed = FIRE_BATCH, set[uuid.UUID]()
        while taken == FIRE_BATCH and time.monotonic() < deadline:
            async for uow in open_uow():
                taken, failing = await service.fire_due(uow, FIRE_BATCH, failed, tid)
                failed |= failing
        if tid in failed:
            return "failed"
        # The batches skip rows other transactions hold (a ticket change locks its
        # clocks' timers): this job's own timer waits for the lock instead, so a held
        # timer fires as soon as it is released, not a grace period later.
        outcome = "stale"
        async for uow in open_uow():
            outcome = await service.fire(uow, tid, version)
        return "fired" if outcome == "stale" else outcome
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
