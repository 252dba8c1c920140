"""The scheduler pass (a cron on every worker, every TIMER_POLL_SECONDS): hands Redis the
wake-ups of timers coming due within the horizon, and wakes a worker again for timers
overdue past the grace (their wake-up was lost, or every worker is busy)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from app.core import queue
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.timers import service

# Any constant: it only keeps two scheduler passes (two workers) from running together.
_SCHEDULER_LOCK = 0x7131_E45

# Due within the horizon and not handed over for this version.
_FRESH_SQL = text(
    """
    SELECT id, version, fire_at FROM timers
    WHERE state = 'pending' AND fire_at <= :horizon
      AND enqueued_version IS DISTINCT FROM version
    ORDER BY fire_at LIMIT :batch
    """
)
# Anything pending and overdue past the grace: one wake-up fires the whole backlog, so a
# single retry job per grace period is enough, however many timers wait.
# Only kinds this worker knows: a kind no worker has a handler for would otherwise wake a
# worker every grace period, forever, for nothing.
_OVERDUE_SQL = text(
    "SELECT EXISTS (SELECT 1 FROM timers WHERE state = 'pending' AND fire_at <= :overdue"
    " AND kind = ANY(:kinds))"
)
# Rows locked by a ticket change or a firing are skipped, not waited for (no lock order
# to get wrong): they have a new version by then, or are handed again next pass. Marked
# only if still at the version and firing time read (a failed firing moves `fire_at`
# without a new version: its wake-up for the old time would not be the right one).
_MARK_SQL = text(
    """
    WITH handed AS (
        SELECT t.id FROM timers t
        JOIN unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[]),
                    CAST(:fire_at AS timestamptz[])) AS v(id, version, fire_at)
          ON v.id = t.id AND v.version = t.version AND v.fire_at = t.fire_at
        ORDER BY t.id
        FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE timers t SET enqueued_version = t.version
    FROM handed WHERE t.id = handed.id
    """
)


def retry_job_id(now: datetime) -> str:
    """One per grace period: a second pass within it finds the job exists (a no-op)."""
    grace = get_settings().timer_overdue_grace_seconds
    return f"timers:wake:retry:{int(now.timestamp()) // grace}"


async def schedule_due(uow: UnitOfWork, batch: int = 5000) -> int | None:
    """One pass: enqueues the wake-ups of up to `batch` pending timers due within the
    horizon that have none for their current version, and one retry wake-up when any
    timer is overdue past the grace. Returns how many timers were handed over (a retry
    counts as none), or None when another pass holds the lock."""
    settings = get_settings()
    got = (
        await uow.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SCHEDULER_LOCK}
        )
    ).scalar_one()
    if not got:
        return None
    now = get_clock().now()
    overdue = (
        await uow.session.execute(
            _OVERDUE_SQL,
            {
                "overdue": now - timedelta(seconds=settings.timer_overdue_grace_seconds),
                "kinds": service.known_kinds(),
            },
        )
    ).scalar_one()
    if overdue:
        # Not deferred: it runs at once, and fires what is due whatever its slot was.
        now_ms = int(now.timestamp() * 1000)
        await queue.enqueue(service.WAKE_JOB, now_ms, job_id=retry_job_id(now))
    rows = (
        await uow.session.execute(
            _FRESH_SQL,
            {
                "horizon": now + timedelta(seconds=settings.timer_horizon_seconds),
                "batch": batch,
            },
        )
    ).all()
    if not rows:
        return 0
    await service.wake([r.fire_at for r in rows])
    ids: list[uuid.UUID] = [r.id for r in rows]
    await uow.session.execute(
        _MARK_SQL,
        {"ids": ids, "versions": [r.version for r in rows], "fire_at": [r.fire_at for r in rows]},
    )
    return len(rows)
