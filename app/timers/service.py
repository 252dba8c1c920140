"""Timer rules for the domains: register what firing a kind does, and set, move or cancel
timers in the caller's transaction.

PostgreSQL holds every timer; Redis only holds jobs that wake a worker at a due time.
Jobs are per due *slot* (a quarter second), not per timer: `timers:wake:<slot ms>`. A
woken worker fires every timer due by then, in batches, each timer exactly once per
version (the row lock and the version decide, not the job). So moving a timer (a new
version) leaves at worst a wake-up that finds nothing, enqueueing the same slot twice
is a no-op in ARQ, and 10,000 timers due in one minute cost 240 jobs, not 10,000.
Far-off timers stay in PostgreSQL until they come within `TIMER_HORIZON_SECONDS`,
because ARQ's job keys expire after about a day and a deferred job cannot be moved. A
lost job (Redis flushed, worker killed while holding it) leaves the timer pending; the
scheduler (scheduler.py) wakes a worker for it once it is `TIMER_OVERDUE_GRACE_SECONDS`
late, so a lost job delays a timer by seconds, never more.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.core import queue
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.timers import repository

log = logging.getLogger("supportline.timers")

WAKE_JOB = "fire_timers"
SLOT_MS = 250


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A locked, due, pending timer as a handler sees it."""

    id: uuid.UUID
    kind: str
    subject_id: uuid.UUID
    version: int
    due_at: datetime
    attempts: int


# A batch handler gets the due timers of its kind (locked, in the firing transaction)
# and returns, for each timer it wants fired again, the time (a new version of the same
# timer: an SLA clock's warning, then its breach); the others are done. It must not
# schedule or cancel the timers it was given: the firing records their outcome.
BatchHandler = Callable[
    [UnitOfWork, list[DueTimer], datetime], Awaitable[dict[uuid.UUID, datetime]]
]
Handler = Callable[[UnitOfWork, DueTimer, datetime], Awaitable[datetime | None]]
_handlers: dict[str, BatchHandler] = {}


def batch_handler(kind: str) -> Callable[[BatchHandler], BatchHandler]:
    """Registers what firing timers of `kind` does, a batch at a time. It runs in the
    transaction that marks the timers fired, so its effects and the firing commit
    together (or neither). Should it raise, the batch is undone and its timers are
    fired one by one, so one bad timer does not hold up the others."""

    def register(fn: BatchHandler) -> BatchHandler:
        _handlers[kind] = fn
        return fn

    return register


def handler(kind: str) -> Callable[[Handler], Handler]:
    """The simple form: a handler for one timer (returns its next due time, or None)."""

    def register(fn: Handler) -> Handler:
        async def each(
            uow: UnitOfWork, due: list[DueTimer], now: datetime
        ) -> dict[uuid.UUID, datetime]:
            again = {}
            for timer in due:
                at = await fn(uow, timer, now)
                if at is not None:
                    again[timer.id] = at
            return again

        _handlers[kind] = each
        return fn

    return register


def handler_for(kind: str) -> BatchHandler | None:
    return _handlers.get(kind)


def known_kinds() -> list[str]:
    return sorted(_handlers)


def unregister(kind: str) -> None:
    _handlers.pop(kind, None)


# --- wake-up jobs ---------------------------------------------------------------------


def slot_of(at: datetime) -> int:
    """The wake-up slot (epoch ms, a multiple of SLOT_MS) at or just after `at`: waking
    at the slot's end means nothing in it is early."""
    return math.ceil(at.timestamp() * 1000 / SLOT_MS) * SLOT_MS


def wake_job_id(slot_ms: int) -> str:
    return f"timers:wake:{slot_ms}"


def slot_time(slot_ms: int) -> datetime:
    return datetime.fromtimestamp(slot_ms / 1000, UTC)


def wake_jobs(
    dues: Iterable[datetime], suffix: str = ""
) -> list[tuple[str, tuple[int], str, datetime]]:
    """(function, args, job id, defer until) for the distinct slots of these due times."""
    slots = sorted({slot_of(d) for d in dues})
    return [(WAKE_JOB, (s,), wake_job_id(s) + suffix, slot_time(s)) for s in slots]


async def wake(dues: Iterable[datetime]) -> None:
    await queue.enqueue_many(wake_jobs(dues))


def wake_after_commit(uow: UnitOfWork, dues: list[datetime]) -> None:
    """For timers set in this transaction that fall due before the scheduler's next
    pass (their rows say so: `enqueued_version` is set): wake a worker for them once the
    transaction is durable. Should Redis refuse, the scheduler's retry covers them."""
    if not dues:
        return

    async def enqueue() -> None:
        try:
            await wake(dues)
        except Exception:
            log.warning("could not enqueue timers due soon; the scheduler will", exc_info=True)

    uow.after_commit(enqueue)


def is_soon(due_at: datetime, now: datetime) -> bool:
    """Due before the scheduler's next pass could hand it over."""
    return due_at <= now + timedelta(seconds=get_settings().timer_poll_seconds)


# --- setting and cancelling -------------------------------------------------------------


async def schedule(uow: UnitOfWork, kind: str, subject_id: uuid.UUID, due_at: datetime) -> None:
    """Sets the timer (kind, subject) to `due_at`, pending, in the caller's transaction.
    Setting it to the time it already has changes nothing (no new version, no job)."""
    now = get_clock().now()
    soon = is_soon(due_at, now)
    changed = await repository.upsert(uow, kind, subject_id, due_at, soon, now)
    if changed and soon:
        wake_after_commit(uow, [due_at])


async def cancel(uow: UnitOfWork, kind: str, subject_ids: Iterable[uuid.UUID]) -> int:
    """Cancels the pending timers of `kind` for these subjects (a new version, so a
    wake-up already in Redis does nothing for them)."""
    ids = list(subject_ids)
    if not ids:
        return 0
    return await repository.cancel(uow, kind, ids, get_clock().now())


def backoff(attempts: int) -> timedelta:
    """How long a timer whose handler failed `attempts` times in a row waits to retry."""
    s = get_settings()
    seconds = s.timer_backoff_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, s.timer_backoff_max_seconds))
