"""ARQ jobs of e-mail: `send_mail` (the send passes) and `send_digests` (digests, then a
send pass), both cron jobs in workers/settings.py, and the wake-up that sends a new
delivery at once instead of at the next tick.

The cron runs every MAIL_POLL_SECONDS (2 s): alone, a notice would wait up to that long
after the outbox drain wrote it, and the lag target (p99 < 2 s from the event's commit
to SMTP acceptance) would be out of reach; so whoever writes deliveries calls
`wake_after_commit(uow)`. One pass at a time per process. app/core/passes.py says why
both, and how.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork, open_uow
from app.core.passes import OnePass, WakeUp
from app.mail import sender

log = logging.getLogger("supportline.mail")

TIME_BUDGET_SECONDS = 30.0  # then return: the next tick or wake-up continues
SLOT_MS = 250
WAKE_JOB_PREFIX = "mail:send:"

_pass = OnePass("send_mail", log)
_wake = WakeUp("send_mail", WAKE_JOB_PREFIX, log, SLOT_MS)


async def send_mail(ctx: dict[str, Any]) -> int:
    """Send passes until nothing is due, the server cannot be reached, or the time
    budget is spent. Returns how many deliveries it handled."""
    return await _pass.run(_passes)


async def _passes() -> int:
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    size = get_settings().smtp_batch_size
    total, sessions = 0, 1
    while True:
        _pass.again = False
        result = await sender.send_pass(sessions=sessions)
        total += result.claimed
        if result.blocked or time.monotonic() >= deadline:
            return total
        # Something was claimed: there may be more (a full batch, or rows a broken
        # session gave back). Nothing claimed: done, unless a wake-up came meanwhile.
        if result.claimed == 0 and not _pass.again:
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
    return _wake.job_id(now_ms)


def wake_after_commit(uow: UnitOfWork) -> None:
    """Once `uow` commits, enqueue a send pass (one per unit of work, however many
    deliveries it wrote). For the writers of deliveries (the outbox consumer, digests,
    the retry endpoints)."""
    _wake.after_commit(uow)
