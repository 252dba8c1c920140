"""Timer administration (the /v1/timers API): what is pending, what died, and the retry
of a dead timer. The firing rules are in firing.py; this only reads and resets rows."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, text
from sqlmodel import col, select

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound
from app.timers import service
from app.timers.models import TIMER_STATES, Timer
from app.timers.schemas import TimerStateCounts, TimerStats

log = logging.getLogger("supportline.timers")


async def list_timers(
    uow: UnitOfWork,
    state: str | None,
    kind: str | None,
    subject_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[Timer]:
    """Newest first (UUIDv7 ids); `limit + 1` rows for the pager."""
    stmt = select(Timer)
    if state is not None:
        stmt = stmt.where(col(Timer.state) == state)
    if kind is not None:
        stmt = stmt.where(col(Timer.kind) == kind)
    if subject_id is not None:
        stmt = stmt.where(col(Timer.subject_id) == subject_id)
    if after is not None:
        stmt = stmt.where(col(Timer.id) < after)
    stmt = stmt.order_by(col(Timer.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get(uow: UnitOfWork, timer_id: uuid.UUID, for_update: bool = False) -> Timer:
    stmt = select(Timer).where(col(Timer.id) == timer_id)
    if for_update:
        stmt = stmt.with_for_update()
    timer = (await uow.session.execute(stmt)).scalar_one_or_none()
    if timer is None:
        raise NotFound("Timer not found.")
    return timer


async def retry(uow: UnitOfWork, timer_id: uuid.UUID) -> Timer:
    """A dead timer goes back to pending, due now, with a fresh attempt budget. Its
    handler re-reads its subject, so a retry of something no longer relevant (the clock
    stopped meanwhile) does nothing but mark it fired."""
    timer = await get(uow, timer_id, for_update=True)
    if timer.state != "dead":
        raise Conflict(
            f"Only dead timers can be retried; this one is '{timer.state}'.",
            current_state=timer.state,
        )
    now = get_clock().now()
    timer.state = "pending"
    timer.attempts = 0
    timer.fire_at = now
    timer.enqueued_version = timer.version
    timer.updated_at = now
    await uow.session.flush()
    service.wake_after_commit(uow, [now])
    log.info("dead timer requeued", extra={"fields": {"timer_id": str(timer.id)}})
    return timer


def _counts(values: dict[str, int]) -> TimerStateCounts:
    return TimerStateCounts(**{s: values.get(s, 0) for s in TIMER_STATES})


async def stats(uow: UnitOfWork) -> TimerStats:
    now = get_clock().now()
    rows = await uow.session.execute(
        select(col(Timer.kind), col(Timer.state), func.count()).group_by(
            col(Timer.kind), col(Timer.state)
        )
    )
    by_kind: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for kind, state, n in rows.all():
        by_kind.setdefault(kind, {})[state] = int(n)
        totals[state] = totals.get(state, 0) + int(n)
    # Both read the partial index of pending timers only.
    row = (
        await uow.session.execute(
            text(
                "SELECT count(*), min(fire_at) FROM timers"
                " WHERE state = 'pending' AND fire_at <= :now"
            ),
            {"now": now},
        )
    ).one()
    retrying = (
        await uow.session.execute(
            text("SELECT count(*) FROM timers WHERE state = 'pending' AND attempts > 0")
        )
    ).scalar_one()
    oldest = row[1]
    return TimerStats(
        counts=_counts(totals),
        due=int(row[0] or 0),
        retrying=int(retrying or 0),
        lag_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        by_kind={k: _counts(v) for k, v in sorted(by_kind.items())},
    )
