"""Timer rules: set, move and cancel timers in the caller's transaction; fire one when
its job comes; and the scheduler pass that hands due timers to ARQ.

PostgreSQL holds every timer; Redis only holds jobs that wake a worker at a timer's due
time. A job is named `timer:<id>:<version>`, so moving a timer (a new version) makes the
old job stale (it finds another version and does nothing) and a second enqueue of the
same version is a no-op in ARQ. Far-off timers stay in PostgreSQL until they come within
`TIMER_HORIZON_SECONDS`, because ARQ's job keys expire after about a day and a deferred
job cannot be moved. If a job is lost (Redis flushed, worker killed while holding it),
the timer is still pending in PostgreSQL, and the scheduler hands it over again once it
is `TIMER_OVERDUE_GRACE_SECONDS` late: a lost job delays a timer by seconds, never more.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select

from app.core import queue
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.core.metrics import JOB_FAILURES, TIMER_LAG, TIMERS_FIRED
from app.timers.models import Timer

log = logging.getLogger("supportline.timers")

FIRE_JOB = "fire_timer"
# A handler returns None when it is done, or the time it wants to be fired again (the
# same timer, a new version: e.g. an SLA clock's warning, then its breach).
Handler = Callable[[UnitOfWork, Timer, datetime], Awaitable[datetime | None]]
_handlers: dict[str, Handler] = {}
# Any constant: it only keeps two scheduler passes (two workers) from running together.
_SCHEDULER_LOCK = 0x7131_E45


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Registers what firing a timer of `kind` does. It runs in the transaction that
    marks the timer fired, so its effects and the firing commit together (or neither)."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


def job_id(timer_id: uuid.UUID | str, version: int) -> str:
    return f"timer:{timer_id}:{version}"


async def _enqueue(timer_id: uuid.UUID | str, version: int, due_at: datetime) -> None:
    await queue.enqueue(
        FIRE_JOB, str(timer_id), version, job_id=job_id(timer_id, version), defer_until=due_at
    )


_UPSERT = text(
    """
    INSERT INTO timers (id, kind, subject_id, due_at, version, state, enqueued_version,
                        created_at, updated_at)
    VALUES (:id, :kind, :subject_id, :due_at, 1, 'pending',
            CASE WHEN :soon THEN 1 END, :now, :now)
    ON CONFLICT (kind, subject_id) DO UPDATE SET
        due_at = EXCLUDED.due_at,
        version = timers.version + 1,
        state = 'pending',
        fired_at = NULL,
        enqueued_version = CASE WHEN :soon THEN timers.version + 1
                                ELSE timers.enqueued_version END,
        updated_at = EXCLUDED.updated_at
    WHERE timers.due_at IS DISTINCT FROM EXCLUDED.due_at OR timers.state <> 'pending'
    RETURNING id, version
    """
)


async def schedule(uow: UnitOfWork, kind: str, subject_id: uuid.UUID, due_at: datetime) -> None:
    """Sets the timer (kind, subject) to `due_at`, pending, in the caller's transaction.
    Setting it to the time it already has changes nothing (no new version, no job)."""
    settings = get_settings()
    now = get_clock().now()
    soon = due_at <= now + timedelta(seconds=settings.timer_poll_seconds)
    row = (
        await uow.session.execute(
            _UPSERT,
            {
                "id": uuid7(),
                "kind": kind,
                "subject_id": subject_id,
                "due_at": due_at,
                "soon": soon,
                "now": now,
            },
        )
    ).first()
    if row is not None and soon:
        wake_after_commit(uow, [(row[0], row[1], due_at)])


def wake_after_commit(uow: UnitOfWork, due_soon: list[tuple[uuid.UUID, int, datetime]]) -> None:
    """For timers the caller inserted itself (ticket creation) that fall due before the
    scheduler's next pass: enqueue their jobs once the transaction is durable."""
    if not due_soon:
        return

    async def wake() -> None:
        try:
            await queue.enqueue_many(
                [(FIRE_JOB, (str(i), v), job_id(i, v), due) for i, v, due in due_soon]
            )
        except Exception:
            log.warning("could not enqueue timers due soon; the scheduler will", exc_info=True)

    uow.after_commit(wake)


async def cancel(uow: UnitOfWork, kind: str, subject_ids: Iterable[uuid.UUID]) -> int:
    """Cancels the pending timers of `kind` for these subjects (a new version, so any
    job already in Redis for them is stale)."""
    ids = list(subject_ids)
    if not ids:
        return 0
    result = await uow.session.execute(
        text(
            "UPDATE timers SET state = 'cancelled', version = version + 1, updated_at = :now "
            "WHERE kind = :kind AND subject_id = ANY(:ids) AND state = 'pending'"
        ),
        {"kind": kind, "ids": ids, "now": get_clock().now()},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def fire(uow: UnitOfWork, timer_id: uuid.UUID, version: int) -> str:
    """One timer's job, in one transaction: lock the timer, act only if it is still this
    version, pending and due, then mark it fired. Returns what happened (for logs and
    tests): fired, stale, early or unknown-kind."""
    timer = await uow.session.get(Timer, timer_id, with_for_update=True)
    if timer is None or timer.state != "pending" or timer.version != version:
        return "stale"
    now = get_clock().now()
    if timer.due_at > now:
        # Woken early (the worker's clock behind the one that set the timer). This job
        # still holds its id, so ARQ would ignore the same id: wake again under an id of
        # its own. Should that enqueue fail, the scheduler hands it over once overdue.
        due, tid, ver = timer.due_at, timer.id, timer.version

        async def again() -> None:
            await queue.enqueue(
                FIRE_JOB, str(tid), ver, job_id=f"{job_id(tid, ver)}:early", defer_until=due
            )

        uow.after_commit(again)
        return "early"
    return await _act(uow, timer, now)


async def _act(uow: UnitOfWork, timer: Timer, now: datetime) -> str:
    """Runs the handler of a locked, due, pending timer and records the firing."""
    act = _handlers.get(timer.kind)
    if act is None:
        # Left pending: a worker that knows the kind (a newer deployment) will fire it.
        log.error("no handler for timer kind", extra={"fields": {"kind": timer.kind}})
        return "unknown-kind"
    version = timer.version
    again = await act(uow, timer, now)
    # The handler may have set or cancelled this very timer (a new version): then that
    # is its state, and this firing must not overwrite it.
    await uow.session.refresh(timer)
    if timer.version != version:
        return "fired"
    TIMERS_FIRED.labels(timer.kind).inc()
    due_at = timer.due_at

    async def observe_lag() -> None:
        # Measured once the firing is durable: a batch commits after all its handlers,
        # so the batch's start time (`fired_at`) understates what others see.
        TIMER_LAG.observe(max((get_clock().now() - due_at).total_seconds(), 0.0))

    uow.after_commit(observe_lag)
    timer.fired_at = now
    timer.updated_at = now
    if again is None:
        timer.state = "fired"
    else:
        timer.due_at = again
        timer.version += 1
        timer.enqueued_version = None
        if again <= now + timedelta(seconds=get_settings().timer_poll_seconds):
            timer.enqueued_version = timer.version
            wake_after_commit(uow, [(timer.id, timer.version, again)])
    await uow.session.flush()
    return "fired"


_STATE_SQL = "SELECT state, version, due_at FROM timers WHERE id = $1"


async def still_due(uow: UnitOfWork, timer_id: uuid.UUID, version: int) -> bool | None:
    """The cheap first look of a job, without a lock: None when the timer is gone, fired,
    cancelled or moved (this job is stale), False when not yet due, True when due."""
    conn = await uow.connection()
    row = await conn.fetchrow(_STATE_SQL, timer_id)
    if row is None or row["state"] != "pending" or row["version"] != version:
        return None
    return bool(row["due_at"] <= get_clock().now())


async def fire_due(
    uow: UnitOfWork,
    limit: int = 100,
    skip: set[uuid.UUID] | None = None,
    running: uuid.UUID | None = None,
) -> tuple[int, set[uuid.UUID]]:
    """Fires, in this transaction, up to `limit` pending timers that are due, oldest
    first; rows another transaction holds are skipped (it is firing or moving them).
    Each handler runs in a savepoint, so one that fails leaves its timer pending (the
    scheduler hands it over again after the grace) without undoing the others.

    Why batches: a job per timer wakes a worker on time, but firing one timer per
    transaction cost several milliseconds each; when many fall due together (10,000
    breaches in a minute), the first job of the second fires them all and the jobs of
    the others find them fired.

    Only kinds this process has handlers for are taken. Returns how many were taken and
    the ids whose handler failed (pass them as `skip` to the next batch, so a failing
    timer is retried by the scheduler later, not again and again in this job)."""
    now = get_clock().now()
    failed: set[uuid.UUID] = set()
    stmt = (
        select(Timer)
        .where(
            col(Timer.state) == "pending",
            col(Timer.due_at) <= now,
            col(Timer.kind).in_(sorted(_handlers)),
        )
        .order_by(col(Timer.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip:
        stmt = stmt.where(col(Timer.id).not_in(skip))
    due = list((await uow.session.execute(stmt)).scalars())
    done: list[str] = []
    for timer in due:
        version = timer.version
        try:
            async with uow.session.begin_nested():
                await _act(uow, timer, now)
            if timer.id != running:  # the calling job's own key stays until it ends
                done.append(job_id(timer.id, version))
        except Exception:
            failed.add(timer.id)
            JOB_FAILURES.labels(f"timer:{timer.kind}").inc()
            log.exception("timer handler failed", extra={"fields": {"timer_id": str(timer.id)}})

    async def forget() -> None:
        # The fired timers' own jobs have nothing left to do: take them off the queue
        # (after the commit), so a worker does not spend a job on each one. Best effort:
        # a job left behind only finds its timer fired.
        try:
            await queue.discard(done)
        except Exception:
            log.warning("could not discard fired timers' jobs", exc_info=True)

    if done:
        uow.after_commit(forget)
    return len(due), failed


# Due within the horizon and not handed over for this version (the fresh ones, up to the
# batch); plus a few overdue by the grace and not handed over within the last grace period
# (their job may be lost). A few are enough: a due job fires every due timer in batches,
# so one retry restarts a whole backlog, while re-handing the whole backlog each grace
# period would flood Redis with jobs for timers that are merely waiting their turn.
_DUE_SQL = text(
    """
    (SELECT id, version, due_at, true AS fresh FROM timers
     WHERE state = 'pending' AND due_at <= :horizon
       AND enqueued_version IS DISTINCT FROM version
     ORDER BY due_at LIMIT :batch)
    UNION ALL
    (SELECT id, version, due_at, false AS fresh FROM timers
     WHERE state = 'pending' AND due_at <= :overdue
       AND enqueued_version = version AND (handed_at IS NULL OR handed_at <= :overdue)
     ORDER BY due_at LIMIT :retries)
    """
)
RETRIES_PER_PASS = 20
# Rows locked by a ticket change or a firing job are skipped, not waited for (no lock
# order to get wrong): they have a new version by then, or are handed again next pass.
_MARK_SQL = text(
    """
    WITH handed AS (
        SELECT t.id FROM timers t
        JOIN unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[])) AS v(id, version)
          ON v.id = t.id AND v.version = t.version
        ORDER BY t.id
        FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE timers t SET enqueued_version = t.version, handed_at = :now
    FROM handed WHERE t.id = handed.id
    """
)


async def schedule_due(uow: UnitOfWork, batch: int = 5000) -> int | None:
    """One scheduler pass: hands ARQ up to `batch` pending timers due within the horizon
    that have no job for their current version, and again a few that are overdue by the
    grace (their job may be lost). Returns how many were handed over, or None when
    another pass holds the lock."""
    settings = get_settings()
    got = (
        await uow.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SCHEDULER_LOCK}
        )
    ).scalar_one()
    if not got:
        return None
    now = get_clock().now()
    rows = (
        await uow.session.execute(
            _DUE_SQL,
            {
                "horizon": now + timedelta(seconds=settings.timer_horizon_seconds),
                "overdue": now - timedelta(seconds=settings.timer_overdue_grace_seconds),
                "batch": batch,
                "retries": RETRIES_PER_PASS,
            },
        )
    ).all()
    if not rows:
        return 0
    # A retry gets a job id of its own: the lost job's id may still be held by ARQ (a
    # worker killed mid-job leaves its in-progress key for the job timeout + 10 s, and
    # ARQ refuses the same id until then). A duplicate run is harmless: a job re-reads
    # its timer and fires only what is still pending and due.
    retry = f"retry{int(now.timestamp())}"
    jobs = []
    for r in rows:
        jid = job_id(r.id, r.version) if r.fresh else f"{job_id(r.id, r.version)}:{retry}"
        jobs.append((FIRE_JOB, (str(r.id), r.version), jid, r.due_at))
    await queue.enqueue_many(jobs)
    await uow.session.execute(
        _MARK_SQL,
        {"ids": [r.id for r in rows], "versions": [r.version for r in rows], "now": now},
    )
    return len(rows)
