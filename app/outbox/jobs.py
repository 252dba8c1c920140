"""Worker entry points of the outbox (thin: the work is in drain.py and service.py).

`drain_outbox` runs as a cron every OUTBOX_POLL_SECONDS on every worker. Overlapping
runs need no PostgreSQL advisory lock (the usual rule for crons that must not overlap):
the drain claims rows with `FOR UPDATE SKIP LOCKED`, so two drains in the same or
different workers share the backlog row by row and never both take one. Within one
process a second tick simply returns while a drain is still looping (it would only
compete for the same database pool); across processes the drains run in parallel,
which is how the outbox scales out.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import open_uow
from app.core.metrics import JOB_FAILURES
from app.outbox import service
from app.outbox.drain import drain_once

log = logging.getLogger("supportline.outbox")

MAX_BATCHES_PER_RUN = 100
TIME_BUDGET_SECONDS = 30.0  # then return: the next tick continues (keeps jobs short)
DRAIN_JOB_TIMEOUT_SECONDS = 120  # a hung consumer is cancelled; its batch rolls back
PURGE_BATCH = 5000

_draining = False


async def drain_outbox(ctx: dict[str, Any]) -> int:
    """Drains batches until nothing is due (bounded by batches and time)."""
    global _draining
    if _draining:
        return 0
    _draining = True
    try:
        size = get_settings().outbox_batch_size
        deadline = time.monotonic() + TIME_BUDGET_SECONDS
        total = 0
        for _ in range(MAX_BATCHES_PER_RUN):
            taken = await drain_once(size)
            total += taken
            if taken < size or time.monotonic() >= deadline:
                break
        return total
    except Exception:
        JOB_FAILURES.labels("drain_outbox").inc()
        log.exception("outbox drain failed")
        raise
    finally:
        _draining = False


async def purge_outbox(ctx: dict[str, Any]) -> int:
    """Deletes delivered messages (and receipts) older than OUTBOX_RETENTION_DAYS."""
    cutoff = get_clock().now() - timedelta(days=get_settings().outbox_retention_days)
    removed = 0
    while True:
        batch = 0
        async with open_uow() as uow:
            batch = await service.purge_delivered(uow, cutoff, PURGE_BATCH)
        removed += batch
        if batch < PURGE_BATCH:
            break
    if removed:
        log.info("outbox purged", extra={"fields": {"removed": removed}})
    return removed
