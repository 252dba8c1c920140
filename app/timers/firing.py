"""Firing due timers, a batch per transaction.

A batch locks up to `limit` pending, due timers (SKIP LOCKED: rows another transaction
holds are being fired or moved by it), runs each kind's batch handler, and records every
outcome in one statement. Why batches: one timer per transaction cost about five round
trips each, and a worker fell behind at a few hundred timers a second; a batch of 100
costs the same handful of round trips as one timer.

A handler that raises undoes its batch (a savepoint); the batch is then fired one timer
at a time, so only the timers that fail are held back. A failed timer keeps its due
time and retries at `fire_at` with a growing backoff; after TIMER_MAX_ATTEMPTS it is
parked as `dead` (logged, counted, and visible to operators), instead of being retried
by every wake-up forever.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import RawSQL, UnitOfWork
from app.core.metrics import TIMER_LAG, TIMERS_FAILED, TIMERS_FIRED
from app.timers import service
from app.timers.service import DueTimer

log = logging.getLogger("supportline.timers")

_COLUMNS = "id, kind, subject_id, version, due_at, attempts"
_TAKE_DUE = RawSQL(
    f"""
    SELECT {_COLUMNS} FROM timers
    WHERE state = 'pending' AND fire_at <= :now::timestamptz AND kind = ANY(:kinds::text[])
    ORDER BY fire_at LIMIT :limit::int
    FOR UPDATE SKIP LOCKED
    """
)
# Named timers, waiting for their locks (in id order, the order a ticket change takes
# its timers, so the two cannot deadlock); the row is re-checked once the lock is got.
_TAKE_IDS = RawSQL(
    f"""
    SELECT {_COLUMNS} FROM timers
    WHERE id = ANY(:ids::uuid[]) AND state = 'pending' AND fire_at <= :now::timestamptz
      AND kind = ANY(:kinds::text[])
    ORDER BY id
    FOR UPDATE
    """
)
# `version = x.version`: a handler that set or cancelled a timer it was given (it should
# not) made a new version, and that is the timer's state now: not overwritten.
_DONE = RawSQL(
    """
    UPDATE timers t SET
        state = CASE WHEN x.again IS NULL THEN 'fired' ELSE 'pending' END,
        due_at = COALESCE(x.again, t.due_at),
        fire_at = COALESCE(x.again, t.fire_at),
        version = CASE WHEN x.again IS NULL THEN t.version ELSE t.version + 1 END,
        enqueued_version = CASE WHEN x.again IS NULL THEN t.enqueued_version
                                WHEN x.soon THEN t.version + 1 END,
        attempts = 0,
        last_error = NULL,
        fired_at = :now::timestamptz,
        updated_at = :now::timestamptz
    FROM unnest(:ids::uuid[], :versions::int[], :again::timestamptz[], :soon::bool[])
         AS x(id, version, again, soon)
    WHERE t.id = x.id AND t.version = x.version AND t.state = 'pending'
    """
)
_FAILED = RawSQL(
    """
    UPDATE timers t SET
        attempts = t.attempts + x.counted,
        state = CASE WHEN t.attempts + x.counted >= :max_attempts::int THEN 'dead'
                     ELSE 'pending' END,
        fire_at = x.retry_at,
        enqueued_version = CASE WHEN x.soon THEN t.version END,
        last_error = x.error,
        updated_at = :now::timestamptz
    FROM unnest(:ids::uuid[], :versions::int[], :retry_at::timestamptz[], :soon::bool[],
                :errors::text[], :counted::int[]) AS x(id, version, retry_at, soon, error, counted)
    WHERE t.id = x.id AND t.version = x.version
    """
)


@dataclass
class Fired:
    """What one batch did."""

    taken: int = 0
    fired: int = 0
    failed: set[uuid.UUID] = field(default_factory=set)
    dead: set[uuid.UUID] = field(default_factory=set)


async def fire_due(
    uow: UnitOfWork,
    limit: int = 100,
    ids: list[uuid.UUID] | None = None,
    kinds: list[str] | None = None,
) -> Fired:
    """Fires, in this transaction, up to `limit` pending timers that are due, oldest
    first, skipping rows other transactions hold; or, given `ids`, those timers if they
    are due, waiting for their locks. Only kinds this process has handlers for are
    taken: a kind no handler knows stays pending for a worker that knows it. `kinds`
    narrows the batch (the wake-up job fires one kind per transaction: handlers of
    different kinds lock different things in different orders, e.g. an escalation locks
    tickets, which a ticket change locks before its clocks' timers)."""
    now = get_clock().now()
    known = service.known_kinds()
    kinds = [k for k in kinds if k in known] if kinds is not None else known
    await uow.session.connection()  # the session first: handlers may use it or raw SQL
    conn = await uow.connection()
    if ids is None:
        rows = await conn.fetch(_TAKE_DUE.sql, *_TAKE_DUE.args({"now": now, "kinds": kinds,
                                                                "limit": limit}))  # fmt: skip
    else:
        rows = await conn.fetch(_TAKE_IDS.sql, *_TAKE_IDS.args({"ids": ids, "now": now,
                                                                "kinds": kinds}))  # fmt: skip
    due = [DueTimer(r["id"], r["kind"], r["subject_id"], r["version"], r["due_at"],
                    r["attempts"]) for r in rows]  # fmt: skip
    result = Fired(taken=len(due))
    if not due:
        return result
    errors: dict[uuid.UUID, tuple[str, bool]] = {}
    try:
        async with uow.session.begin_nested():
            again = await _run(uow, due, now)
    except Exception:
        log.warning("a timer batch failed; firing it one by one", exc_info=True)
        again = {}
        for timer in due:
            try:
                async with uow.session.begin_nested():
                    again.update(await _run(uow, [timer], now))
            except Exception as exc:
                errors[timer.id] = (f"{type(exc).__name__}: {exc}"[:2000], _transient(exc))
                log.exception(
                    "timer handler failed",
                    extra={"fields": {"timer_id": str(timer.id), "kind": timer.kind}},
                )
    done = [t for t in due if t.id not in errors]
    await _record_done(uow, conn, done, again, now)
    result.fired = len(done)
    if errors:
        result.failed = set(errors)
        result.dead = await _record_failed(uow, conn, due, errors, now)
    return result


# Contention and cancellation, not a broken handler: retried, but not counted towards
# TIMER_MAX_ATTEMPTS (a warning must not die because tickets were busy for 20 minutes).
_TRANSIENT = (
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def _transient(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # raw asyncpg, or wrapped by SQLAlchemy
        if isinstance(exc, _TRANSIENT) or isinstance(getattr(exc, "orig", None), _TRANSIENT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


async def _run(uow: UnitOfWork, due: list[DueTimer], now: datetime) -> dict[uuid.UUID, datetime]:
    # SQLAlchemy sends SAVEPOINT lazily, on the session's next use: make it now, so a
    # handler's raw statements are inside the savepoint whatever the handler does first.
    await uow.session.connection()
    by_kind: dict[str, list[DueTimer]] = defaultdict(list)
    for t in due:
        by_kind[t.kind].append(t)
    again: dict[uuid.UUID, datetime] = {}
    for kind, timers in by_kind.items():
        act = service.handler_for(kind)
        assert act is not None  # only known kinds are taken
        ids = {t.id for t in timers}
        for timer_id, at in (await act(uow, timers, now)).items():
            if timer_id not in ids:
                continue
            if at <= now:
                # Again at once would fire it again in this very wake-up, and again:
                # a loop. A second later is as soon as a re-armed timer can mean.
                log.warning("timer re-armed in the past", extra={"fields": {"kind": kind}})
                at = now + timedelta(seconds=1)
            again[timer_id] = at
    await uow.session.flush()  # a per-timer handler's ORM writes, inside the savepoint
    return again


async def _record_done(
    uow: UnitOfWork,
    conn: asyncpg.Connection,
    done: list[DueTimer],
    again: dict[uuid.UUID, datetime],
    now: datetime,
) -> None:
    if not done:
        return
    next_at = [again.get(t.id) for t in done]
    soon = [at is not None and service.is_soon(at, now) for at in next_at]
    await conn.execute(
        _DONE.sql,
        *_DONE.args(
            {
                "now": now,
                "ids": [t.id for t in done],
                "versions": [t.version for t in done],
                "again": next_at,
                "soon": soon,
            }
        ),
    )
    service.wake_after_commit(uow, [at for at, s in zip(next_at, soon, strict=True) if s and at])
    kinds: dict[str, int] = defaultdict(int)
    for t in done:
        kinds[t.kind] += 1
    dues = [t.due_at for t in done]

    async def observe() -> None:
        # Measured once the firing is durable: what others see, not when the batch began.
        committed = get_clock().now()
        for kind, n in kinds.items():
            TIMERS_FIRED.labels(kind).inc(n)
        for due_at in dues:
            TIMER_LAG.observe(max((committed - due_at).total_seconds(), 0.0))

    uow.after_commit(observe)


async def _record_failed(
    uow: UnitOfWork,
    conn: asyncpg.Connection,
    due: list[DueTimer],
    errors: dict[uuid.UUID, tuple[str, bool]],
    now: datetime,
) -> set[uuid.UUID]:
    max_attempts = get_settings().timer_max_attempts
    failed = [t for t in due if t.id in errors]
    counted = [0 if errors[t.id][1] else 1 for t in failed]
    retry_at = [now + service.backoff(t.attempts + c) for t, c in zip(failed, counted, strict=True)]
    soon = [service.is_soon(at, now) for at in retry_at]
    await conn.execute(
        _FAILED.sql,
        *_FAILED.args(
            {
                "now": now,
                "max_attempts": max_attempts,
                "ids": [t.id for t in failed],
                "versions": [t.version for t in failed],
                "retry_at": retry_at,
                "soon": soon,
                "errors": [errors[t.id][0] for t in failed],
                "counted": counted,
            }
        ),
    )
    dead = {t.id for t, c in zip(failed, counted, strict=True) if t.attempts + c >= max_attempts}
    for t in failed:
        TIMERS_FAILED.labels(t.kind, "dead" if t.id in dead else "retry").inc()
        if t.id in dead:
            log.error(
                "timer given up after repeated failures",
                extra={"fields": {"timer_id": str(t.id), "kind": t.kind,
                                  "attempts": max_attempts}},
            )  # fmt: skip
    service.wake_after_commit(
        uow, [at for t, at, s in zip(failed, retry_at, soon, strict=True) if s and t.id not in dead]
    )
    return dead


_HELD = RawSQL(
    """
    SELECT id FROM timers
    WHERE state = 'pending' AND fire_at <= :until::timestamptz AND kind = ANY(:kinds::text[])
    ORDER BY fire_at LIMIT :limit::int
    """
)


async def due_ids(uow: UnitOfWork, until: datetime, limit: int) -> list[uuid.UUID]:
    """Pending timers due by `until`, locked or not (no lock taken): after a wake-up has
    fired what it could, these are the ones other transactions held."""
    conn = await uow.connection()
    rows = await conn.fetch(
        _HELD.sql, *_HELD.args({"until": until, "kinds": service.known_kinds(), "limit": limit})
    )
    return [r["id"] for r in rows]
