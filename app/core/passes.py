"""What the jobs that send (e-mail, webhooks) share: one pass at a time in a process,
and the wake-up enqueued once a transaction that wrote something to send has committed.

**Why a wake-up as well as the cron.** The cron ticks every few seconds: alone, a new
delivery would wait up to a tick after the outbox drain wrote it. So whoever writes
deliveries calls `WakeUp.after_commit(uow)`: once the transaction is durable, one job
is enqueued, its id per quarter-second slot (a drain batch writing a hundred deliveries
enqueues one job, and the same slot enqueued twice is one job). The cron stays: it is
what sends when Redis lost the wake-up, what retries at their backoff and what picks up
a dead worker's leases. A wake-up is only ever an early pass, so a Redis failure there
is logged and ignored.

**Why one pass at a time.** Two passes in one process would only compete for the same
rows; a call that comes while a pass runs asks it to look again before it stops, so a
wake-up arriving mid-pass is not lost. Across processes passes run side by side, sharing
the rows through SKIP LOCKED."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable

from app.core import queue
from app.core.db import UnitOfWork
from app.core.metrics import JOB_FAILURES


class OnePass:
    """Runs a job's passes, one run at a time in this process."""

    def __init__(self, job: str, log: logging.Logger) -> None:
        self.job = job
        self.log = log
        self.running = False
        self.again = False  # set by a call that came while a run was going on

    async def run(self, passes: Callable[[], Awaitable[int]]) -> int:
        if self.running:
            self.again = True
            return 0
        self.running = True
        try:
            return await passes()
        except Exception:
            JOB_FAILURES.labels(self.job).inc()
            self.log.exception("%s pass failed", self.job)
            raise
        finally:
            self.running = False


class WakeUp:
    """Enqueues `job` once a unit of work commits (once per unit of work)."""

    def __init__(self, job: str, prefix: str, log: logging.Logger, slot_ms: int = 250) -> None:
        self.job = job
        self.prefix = prefix
        self.log = log
        self.slot_ms = slot_ms
        self._woken: weakref.WeakSet[UnitOfWork] = weakref.WeakSet()

    def job_id(self, now_ms: int) -> str:
        return f"{self.prefix}{now_ms // self.slot_ms}"

    def after_commit(self, uow: UnitOfWork) -> None:
        if uow in self._woken:
            return
        self._woken.add(uow)

        async def enqueue() -> None:
            try:
                await queue.enqueue(self.job, job_id=self.job_id(int(time.time() * 1000)))
            except Exception:
                self.log.warning("could not enqueue %s; the cron will run it", self.job,
                                 exc_info=True)  # fmt: skip

        uow.after_commit(enqueue)
