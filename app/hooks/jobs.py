"""ARQ job of outbound webhooks: `send_webhooks` (a cron job every WEBHOOK_POLL_SECONDS
in workers/settings.py), and the wake-up that sends a new delivery at once instead of at
the next tick.

As for e-mail (app/mail/jobs.py, which explains it at length): whoever writes due
deliveries (the outbox consumer, a redelivery through the API) calls
`wake_after_commit(uow)`, which enqueues one `send_webhooks` job per quarter-second slot
once the transaction is durable. The cron remains what sends when Redis lost the
wake-up, what retries at the schedule's times and what picks up a dead worker's leases;
a wake-up is only an early pass, so a Redis failure there is logged and ignored.

Within one process one pass runs at a time (a call while one runs asks it to look
again before it stops); across processes passes run side by side on SKIP LOCKED."""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

from app.core import queue
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.metrics import JOB_FAILURES
from app.hooks import sender

log = logging.getLogger("supportline.webhooks")

TIME_BUDGET_SECONDS = 60.0  # then return: the next tick or wake-up continues
SLOT_MS = 250
WAKE_JOB_PREFIX = "webhooks:send:"

_running = False
_again = False
_woken: weakref.WeakSet[UnitOfWork] = weakref.WeakSet()


async def send_webhooks(ctx: dict[str, Any]) -> int:
    """Send passes until nothing is due or the time budget is spent. Returns how many
    deliveries it claimed."""
    global _running, _again
    if _running:
        _again = True
        return 0
    _running = True
    try:
        return await _passes()
    except Exception:
        JOB_FAILURES.labels("send_webhooks").inc()
        log.exception("webhook send pass failed")
        raise
    finally:
        _running = False


async def _passes() -> int:
    global _again
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    size = get_settings().webhook_batch_size
    total = 0
    while True:
        _again = False
        result = await sender.send_pass(size)
        total += result.claimed
        if time.monotonic() >= deadline:
            return total
        # A full batch: there may be more. Less: done, unless a wake-up came meanwhile.
        if result.claimed < size and not _again:
            return total


def wake_job_id(now_ms: int) -> str:
    return f"{WAKE_JOB_PREFIX}{now_ms // SLOT_MS}"


def wake_after_commit(uow: UnitOfWork) -> None:
    """Once `uow` commits, enqueue a send pass (one per unit of work)."""
    if uow in _woken:
        return
    _woken.add(uow)

    async def enqueue() -> None:
        try:
            await queue.enqueue("send_webhooks", job_id=wake_job_id(int(time.time() * 1000)))
        except Exception:
            log.warning("could not enqueue a webhook pass; the cron will send", exc_info=True)

    uow.after_commit(enqueue)
