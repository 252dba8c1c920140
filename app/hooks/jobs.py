"""ARQ job of outbound webhooks: `send_webhooks` (a cron job every WEBHOOK_POLL_SECONDS
in workers/settings.py), and the wake-up that sends a new delivery at once instead of at
the next tick (app/core/passes.py says why both): whoever writes due deliveries (the
outbox consumer, a redelivery through the API) calls `wake_after_commit(uow)`."""

from __future__ import annotations

import logging
import time
from typing import Any

from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.passes import OnePass, WakeUp
from app.hooks import sender

log = logging.getLogger("supportline.webhooks")

TIME_BUDGET_SECONDS = 60.0  # then return: the next tick or wake-up continues
WAKE_JOB_PREFIX = "webhooks:send:"

_pass = OnePass("send_webhooks", log)
_wake = WakeUp("send_webhooks", WAKE_JOB_PREFIX, log)


async def send_webhooks(ctx: dict[str, Any]) -> int:
    """Send passes until nothing is due or the time budget is spent. Returns how many
    deliveries it claimed."""
    return await _pass.run(_passes)


async def _passes() -> int:
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    size = get_settings().webhook_batch_size
    total = 0
    while True:
        _pass.again = False
        result = await sender.send_pass(size)
        total += result.claimed
        if time.monotonic() >= deadline:
            return total
        # A full batch: there may be more. Less: done, unless a wake-up came meanwhile.
        if result.claimed < size and not _pass.again:
            return total


def wake_job_id(now_ms: int) -> str:
    return _wake.job_id(now_ms)


def wake_after_commit(uow: UnitOfWork) -> None:
    """Once `uow` commits, enqueue a send pass (one per unit of work)."""
    _wake.after_commit(uow)
