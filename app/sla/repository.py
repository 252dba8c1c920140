"""The queries of the SLA domain: clocks and their segments, policies and their targets,
and the batch statements of the clocks' announcements (announcements.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import delete, text
from sqlmodel import col, select

from app.core.db import RawSQL, UnitOfWork
from app.core.pagination import CodePageParams
from app.sla.models import ClockSegment, SlaPolicy, SlaTarget, TicketClock

# --- clocks and segments ---------------------------------------------------------------


async def clocks_of(uow: UnitOfWork, ticket_id: uuid.UUID, lock: bool = False) -> list[TicketClock]:
    stmt = select(TicketClock).where(col(TicketClock.ticket_id) == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    return list((await uow.session.execute(stmt.order_by(col(TicketClock.id)))).scalars())


async def running_due_before(
    uow: UnitOfWork, ticket_id: uuid.UUID, until: datetime
) -> list[TicketClock]:
    """The ticket's running clocks that fall due before `until`."""
    stmt = select(TicketClock).where(
        col(TicketClock.ticket_id) == ticket_id,
        col(TicketClock.state) == "running",
        col(TicketClock.due_at) < until,
    )
    return list((await uow.session.execute(stmt)).scalars())


async def segments_of(uow: UnitOfWork, clock_ids: list[uuid.UUID]) -> list[ClockSegment]:
    if not clock_ids:
        return []
    stmt = (
        select(ClockSegment)
        .where(col(ClockSegment.clock_id).in_(clock_ids))
        .order_by(col(ClockSegment.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def open_segment(uow: UnitOfWork, clock_id: uuid.UUID) -> ClockSegment | None:
    stmt = select(ClockSegment).where(
        col(ClockSegment.clock_id) == clock_id, col(ClockSegment.ended_at).is_(None)
    )
    return (await uow.session.execute(stmt)).scalars().first()


def add_segment(
    uow: UnitOfWork, clock_id: uuid.UUID, kind: str, reason: str, started_at: datetime
) -> None:
    """Opens a segment of a clock (its end is set when the next one starts)."""
    uow.session.add(ClockSegment(clock_id=clock_id, kind=kind, reason=reason,
                                 started_at=started_at))  # fmt: skip


def add_segments(uow: UnitOfWork, segments: Sequence[ClockSegment]) -> None:
    uow.session.add_all(segments)


async def add_clock(uow: UnitOfWork, clock: TicketClock) -> None:
    """Inserts a clock at once (its segments refer to its id)."""
    uow.session.add(clock)
    await uow.session.flush()


async def lock_clock_timers(uow: UnitOfWork, ticket_id: uuid.UUID, kind: str) -> None:
    """Locks the timers (of `kind`) of the ticket's clocks, in id order."""
    await uow.session.execute(
        text(
            "SELECT t.id FROM timers t JOIN ticket_clocks c ON c.id = t.subject_id "
            "WHERE c.ticket_id = :ticket AND t.kind = :kind ORDER BY t.id FOR UPDATE OF t"
        ),
        {"ticket": ticket_id, "kind": kind},
    )


async def targets_for(
    uow: UnitOfWork, service_level: str | None, priority: str
) -> dict[str, dict[str, Any]]:
    """The active policy's targets of a service level for a priority, by metric."""
    rows = (
        await uow.session.execute(
            text(
                "SELECT t.metric, t.minutes, t.calendar_id, t.warn_percent "
                "FROM sla_policies p JOIN sla_targets t ON t.policy_id = p.id "
                "WHERE p.active AND p.service_level = :level AND t.priority = :priority"
            ),
            {"level": service_level, "priority": priority},
        )
    ).mappings()
    return {r["metric"]: dict(r) for r in rows}


_TICKET_FACTS = RawSQL(
    """
    SELECT id AS ticket_id, number, branch_id, status, priority, owner_id, service_level
    FROM tickets WHERE id = :id::uuid
    """
)


async def ticket_facts(uow: UnitOfWork, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    """The facts of a clock's ticket an announcement carries."""
    conn = await uow.connection()
    return await conn.fetchrow(_TICKET_FACTS.sql, *_TICKET_FACTS.args({"id": ticket_id}))


# --- the clocks' announcements (announcements.py) ---------------------------------------

# Lock order: the firing took the clocks' timers first; a ticket change takes them in the
# same order (timers, then clocks), so the two wait for each other but cannot deadlock.
_CLOCKS = RawSQL(
    """
    SELECT c.id, c.ticket_id, c.metric, c.state, c.outcome, c.warn_at, c.due_at,
           c.warned_at, c.target_seconds, t.number, t.branch_id, t.status, t.priority,
           t.owner_id, t.service_level
    FROM ticket_clocks c JOIN tickets t ON t.id = c.ticket_id
    WHERE c.id = ANY(:ids::uuid[])
    ORDER BY c.id
    FOR UPDATE OF c
    """
)
_WRITE = RawSQL(
    """
    UPDATE ticket_clocks c SET
        warned_at = COALESCE(x.warned_at, c.warned_at),
        outcome = COALESCE(x.outcome, c.outcome),
        breached_at = COALESCE(x.breached_at, c.breached_at),
        updated_at = :now::timestamptz
    FROM unnest(:clock_ids::uuid[], :warned_at::timestamptz[], :outcome::text[],
                :breached_at::timestamptz[]) AS x(id, warned_at, outcome, breached_at)
    WHERE c.id = x.id
    """
)


async def lock_clocks(uow: UnitOfWork, clock_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The clocks with their tickets' facts, locked, in one statement."""
    conn = await uow.connection()
    return list(await conn.fetch(_CLOCKS.sql, *_CLOCKS.args({"ids": clock_ids})))


async def write_announced(
    uow: UnitOfWork,
    now: datetime,
    clock_ids: list[uuid.UUID],
    warned_at: list[datetime | None],
    outcome: list[str | None],
    breached_at: list[datetime | None],
) -> None:
    """Stamps the warnings and breaches of a batch of clocks, in one statement (a None
    keeps what the clock had)."""
    conn = await uow.connection()
    await conn.execute(
        _WRITE.sql,
        *_WRITE.args(
            {
                "now": now,
                "clock_ids": clock_ids,
                "warned_at": warned_at,
                "outcome": outcome,
                "breached_at": breached_at,
            }
        ),
    )


# --- policies and targets ---------------------------------------------------------------


async def policy(uow: UnitOfWork, service_level: str, lock: bool = False) -> SlaPolicy | None:
    stmt = select(SlaPolicy).where(col(SlaPolicy.service_level) == service_level)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalars().first()


async def policies_page(uow: UnitOfWork, page: CodePageParams) -> list[SlaPolicy]:
    """Up to one more than the page's limit, by service level after the cursor."""
    stmt = select(SlaPolicy)
    if page.after is not None:
        stmt = stmt.where(col(SlaPolicy.service_level) > page.after)
    stmt = stmt.order_by(col(SlaPolicy.service_level)).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def policy_taken(uow: UnitOfWork, service_level: str) -> bool:
    taken = await uow.session.execute(
        select(col(SlaPolicy.id)).where(col(SlaPolicy.service_level) == service_level)
    )
    return taken.first() is not None


async def add_policy(uow: UnitOfWork, policy: SlaPolicy) -> None:
    uow.session.add(policy)
    await uow.session.flush()


async def targets_of(uow: UnitOfWork, policy_ids: list[uuid.UUID]) -> Sequence[Any]:
    """(policy id, priority, metric, minutes, calendar id, calendar code, warn percent)
    of the policies' targets, by priority and metric."""
    return (
        await uow.session.execute(
            text(
                "SELECT t.policy_id, t.priority, t.metric, t.minutes, t.calendar_id, c.code, "
                "t.warn_percent FROM sla_targets t JOIN calendars c ON c.id = t.calendar_id "
                "WHERE t.policy_id = ANY(:ids) ORDER BY t.priority, t.metric"
            ),
            {"ids": policy_ids},
        )
    ).all()


async def replace_targets(uow: UnitOfWork, policy_id: uuid.UUID, targets: list[SlaTarget]) -> None:
    await uow.session.execute(delete(SlaTarget).where(col(SlaTarget.policy_id) == policy_id))
    for t in targets:
        uow.session.add(t)


async def active_calendar_ids(uow: UnitOfWork, codes: list[str]) -> dict[str, Any]:
    """Ids of the active calendars among `codes`, by code."""
    rows = await uow.session.execute(
        text("SELECT code, id FROM calendars WHERE code = ANY(:codes) AND active"),
        {"codes": codes},
    )
    return {r[0]: r[1] for r in rows}


async def service_level_exists(uow: UnitOfWork, code: str) -> bool:
    level = await uow.session.execute(
        text("SELECT 1 FROM service_levels WHERE code = :c"), {"c": code}
    )
    return level.first() is not None


async def is_default_level(uow: UnitOfWork, code: str) -> bool | None:
    default = await uow.session.execute(
        text("SELECT is_default FROM service_levels WHERE code = :c"), {"c": code}
    )
    found: bool | None = default.scalar_one_or_none()
    return found


# --- the default policies (defaults.py) -------------------------------------------------


async def insert_default_policy(
    uow: UnitOfWork,
    id: uuid.UUID,
    level: str,
    name: str,
    name_en: str,
    pause_on_vendor: bool,
    now: datetime,
) -> None:
    """Inserts a policy for a known service level that has none; never overwrites."""
    await uow.session.execute(
        text(
            "INSERT INTO sla_policies (id, service_level, name, name_en, pause_on_vendor, "
            "active, version, created_at, updated_at) "
            "SELECT :id, CAST(:level AS varchar), :name, :name_en, :pov, true, 1, :now, :now "
            "WHERE EXISTS (SELECT 1 FROM service_levels WHERE code = CAST(:level AS varchar)) "
            "ON CONFLICT (service_level) DO NOTHING"
        ),
        {"id": id, "level": level, "name": name, "name_en": name_en,
         "pov": pause_on_vendor, "now": now},
    )  # fmt: skip


async def insert_default_target(
    uow: UnitOfWork,
    id: uuid.UUID,
    level: str,
    priority: str,
    metric: str,
    minutes: int,
    calendar: str,
) -> None:
    """Inserts a target of a level's policy on a calendar (by code) unless it has it."""
    await uow.session.execute(
        text(
            "INSERT INTO sla_targets (id, policy_id, priority, metric, minutes, "
            "calendar_id, warn_percent) "
            "SELECT :id, p.id, :priority, :metric, :minutes, c.id, 75 "
            "FROM sla_policies p, calendars c "
            "WHERE p.service_level = :level AND c.code = :calendar "
            "ON CONFLICT ON CONSTRAINT uq_sla_targets_key DO NOTHING"
        ),
        {"id": id, "level": level, "priority": priority, "metric": metric,
         "minutes": minutes, "calendar": calendar},
    )  # fmt: skip
