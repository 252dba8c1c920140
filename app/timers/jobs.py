"""Worker entry points of the timers (thin: the rules are in firing.py and scheduler.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg

from app.core import queue
from app.core.clock import get_clock
from app.core.db import open_uow
from app.core.metrics import JOB_FAILURES
from app.timers import firing, scheduler, service

log = logging.getLogger("supportline.timers")
SCHEDULE_JOB_TIMEOUT_SECONDS = 60
FIRE_BATCH = 100
# A wake-up that still finds timers due after this long hands the rest to a new job
# (another worker may take it) rather than holding its slot in this worker.
FIRE_BUDGET_SECONDS = 10.0
# How long a wake-up waits for a due timer another transaction holds (a ticket change
# holds its clocks' timers for milliseconds; longer means something is stuck, and the
# scheduler's retry comes back for it).
HELD_LOCK_TIMEOUT = "5s"


async def fire_timers(ctx: dict[str, Any], slot_ms: int) -> str:
    """Wakes at a due slot and fires every timer due by now, in batches, each batch its
    own transaction; then the due timers the batches skipped because a ticket change
    held them, waiting for those locks, so a held timer fires as soon as it is released
    instead of a grace period later."""
    try:
        slot = service.slot_time(slot_ms)
        if get_clock().now() < slot:
            # Woken early: this worker's clock is behind the one that set the timer.
            await queue.enqueue(
                service.WAKE_JOB,
                slot_ms,
                job_id=f"{service.wake_job_id(slot_ms)}:early",
                defer_until=slot,
            )
            return "early"
        deadline = time.monotonic() + FIRE_BUDGET_SECONDS
        fired = 0
        # One kind per transaction (see firing.fire_due), a batch of each in turn while
        # any has more, so a flood of one kind (10,000 notices) does not hold up another
        # (the escalations of the same breaches).
        active = service.known_kinds()
        while active:
            more = []
            for kind in active:
                async with open_uow() as uow:
                    batch = await firing.fire_due(uow, FIRE_BATCH, kinds=[kind])
                fired += batch.fired
                if batch.taken == FIRE_BATCH:
                    more.append(kind)
            active = more
            if active and time.monotonic() > deadline:
                await queue.enqueue(
                    service.WAKE_JOB, slot_ms, job_id=f"{service.wake_job_id(slot_ms)}:more{fired}"
                )
                return f"fired {fired}, more due"
        held: list[Any] = []
        async with open_uow() as uow:
            held = await firing.due_ids(uow, slot, FIRE_BATCH)
        for timer_id in held:
            # One short transaction each: waiting for one timer must not keep another
            # locked (and the ticket change that wants it waiting) meanwhile.
            try:
                async with open_uow() as uow:
                    await uow.session.connection()
                    conn = await uow.connection()
                    await conn.execute(f"SET LOCAL lock_timeout = '{HELD_LOCK_TIMEOUT}'")
                    fired += (await firing.fire_due(uow, 1, ids=[timer_id])).fired
            except asyncpg.LockNotAvailableError:
                log.warning(
                    "a due timer is held too long; the scheduler will retry it",
                    extra={"fields": {"timer_id": str(timer_id)}},
                )
        return f"fired {fired}"
    except Exception:
        JOB_FAILURES.labels("fire_timers").inc()
        log.exception("timer wake-up failed", extra={"fields": {"slot_ms": slot_ms}})
        raise


async def fire_timer(ctx: dict[str, Any], timer_id: str, version: int) -> str:
    """The per-timer job of releases before revision 0005, still queued during a rolling
    deploy: it fires whatever is due now, its own timer among them. Remove with the
    revision that drops `timers.handed_at`."""
    now_ms = int(get_clock().now().timestamp() * 1000)
    return await fire_timers(ctx, now_ms)


async def schedule_timers(ctx: dict[str, Any]) -> int:
    """The scheduler pass, as a cron on every worker; the advisory lock inside makes
    concurrent passes (several workers) give way to the one already running."""
    try:
        total = 0
        while True:
            handed: int | None = None
            async with open_uow() as uow:
                handed = await scheduler.schedule_due(uow)
            if not handed:
                return total
            total += handed
            if handed < 5000:
                return total
    except Exception:
        JOB_FAILURES.labels("schedule_timers").inc()
        log.exception("timer scheduling failed")
        raise
