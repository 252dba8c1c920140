"""ARQ jobs of e-mail: `send_mail` (the send passes) and `send_digests` (digests, then a
send pass), both cron jobs in workers/settings.py, and the wake-up that sends a new
delivery at once instead of at the next tick.

**Why a wake-up after commit as well as the cron.** The cron runs every
MAIL_POLL_SECONDS (2 s): alone, a notice would wait up to that long after the outbox
drain wrote it, on top of the drain's own tick, and the lag target (p99 < 2 s from the
event's commit to SMTP acceptance) would be out of reach. So whoever writes deliveries
calls `wake_after_commit(uow)`: once the transaction is durable, one `send_mail` job is
enqueued, its id per quarter-second slot (a drain batch writing a hundred deliveries
enqueues one job, and the same slot enqueued twice is one job). The cron stays: it is
what sends when Redis lost the wake-up, what retries at their backoff and what picks
up a dead worker's leases. A wake-up is only ever an early pass, never needed for
correctness, so a Redis failure there is logged and ignored.

Within one process one pass runs at a time (a second call while one runs asks it to
look again before it stops, so a wake-up that arrives during a pass is not lost);
across processes passes run side by side, sharing the rows through SKIP LOCKED.
"""

from __future__ import annotations

import importlib
import logging
import time
import weakref
from typing import Any

from app.core import queue
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork, open_uow
from app.core.metrics import JOB_FAILURES
from app.mail import sender

log = logging.getLogger("supportline.mail")

TIME_BUDGET_SECONDS = 30.0  # then return: the next tick or wake-up continues
SLOT_MS = 250
WAKE_JOB_PREFIX = "mail:send:"

_running = False
_again = False
_woken: weakref.WeakSet[UnitOfWork] = weakref.WeakSet()


async def send_mail(ctx: dict[str, Any]) -> int:
    """Send passes until nothing is due, the server cannot be reached, or the time
    budget is spent. Returns how many deliveries it handled."""
    global _running, _again
    if _running:
        _again = True
        return 0
    _running = True
    try:
        return await _passes()
    except Exception:
        JOB_FAILURES.labels("send_mail").inc()
        log.exception("send pass failed")
        raise
    finally:
        _running = False


async def _passes() -> int:
    global _again
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    size = get_settings().smtp_batch_size
    total, sessions = 0, 1
    while True:
        _again = False
        result = await sender.send_pass(sessions=sessions)
        total += result.claimed
        if result.blocked or time.monotonic() >= deadline:
            return total
        # Something was claimed: there may be more (a full batch, or rows a broken
        # session gave back). Nothing claimed: done, unless a wake-up came meanwhile.
        if result.claimed == 0 and not _again:
            return total
        # A backlog (every session came back full): sessions side by side.
        full = result.claimed >= size * sessions
        sessions = sender.PARALLEL_SESSIONS if full else 1


async def send_digests(ctx: dict[str, Any]) -> int:
    """Composes the digests that are due (app.mail.digest, when that module exists),
    then sends. Returns how many digests it composed."""
    composed = 0
    compose = _digest_composer()
    if compose is not None:
        async with open_uow() as uow:
            composed = int(await compose(uow, get_clock().now()))
    await send_mail(ctx)
    return composed


def _digest_composer() -> Any:
    try:
        module = importlib.import_module("app.mail.digest")
    except ModuleNotFoundError as exc:
        if exc.name != "app.mail.digest":
            raise  # the module exists and one of its imports is missing: a real error
        return None
    return getattr(module, "compose_due", None)


def wake_job_id(now_ms: int) -> str:
    return f"{WAKE_JOB_PREFIX}{now_ms // SLOT_MS}"


def wake_after_commit(uow: UnitOfWork) -> None:
    """Once `uow` commits, enqueue a send pass (one per unit of work, however many
    deliveries it wrote). For the writers of deliveries (the outbox consumer, digests,
    the retry endpoints)."""
    if uow in _woken:
        return
    _woken.add(uow)

    async def enqueue() -> None:
        try:
            await queue.enqueue("send_mail", job_id=wake_job_id(int(time.time() * 1000)))
        except Exception:
            log.warning("could not enqueue a send pass; the cron will send", exc_info=True)

    uow.after_commit(enqueue)
