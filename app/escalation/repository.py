"""The queries of the escalation domain: escalations and policies, who manages a line,
and the batch statements of the notice chain (sla.py, notices.py). The timers, timeline
events and outbox rows they start are written by their owners' row builders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlmodel import col, select

from app.core.db import RawSQL, UnitOfWork
from app.core.pagination import CodePageParams
from app.escalation.models import Escalation, EscalationPolicy
from app.tickets.interface import Ticket

# --- escalations ------------------------------------------------------------------------


async def lock_open_escalation(uow: UnitOfWork, ticket_id: uuid.UUID) -> Escalation | None:
    """The ticket's open escalation, locked."""
    stmt = select(Escalation).where(
        col(Escalation.ticket_id) == ticket_id,
        col(Escalation.state).in_(("requested", "approved", "accepted", "closure_proposed")),
    )
    return (await uow.session.execute(stmt.with_for_update())).scalars().first()


async def escalation_for_update(uow: UnitOfWork, escalation_id: uuid.UUID) -> Escalation | None:
    return await uow.session.get(Escalation, escalation_id, with_for_update=True)


def add_escalation(uow: UnitOfWork, e: Escalation) -> None:
    uow.session.add(e)


async def escalations_of(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[Escalation]:
    stmt = select(Escalation).where(col(Escalation.ticket_id) == ticket_id)
    return list((await uow.session.execute(stmt.order_by(col(Escalation.id)))).scalars())


async def ticket_key_share(uow: UnitOfWork, ticket_id: uuid.UUID) -> Ticket | None:
    """The ticket, locked FOR KEY SHARE."""
    return await uow.session.get(Ticket, ticket_id, with_for_update={"key_share": True})


async def clocks_with_tickets(uow: UnitOfWork, clock_ids: list[uuid.UUID]) -> Sequence[Any]:
    """(clock_id, metric, outcome, warned_at, ticket_id) of the clocks, by ticket."""
    return (
        await uow.session.execute(
            text(
                "SELECT c.id AS clock_id, c.metric, c.outcome, c.warned_at, t.id AS ticket_id"
                " FROM ticket_clocks c JOIN tickets t ON t.id = c.ticket_id"
                " WHERE c.id = ANY(:ids) ORDER BY t.id"
            ),
            {"ids": clock_ids},
        )
    ).all()


# --- people -----------------------------------------------------------------------------


async def manages_line(uow: UnitOfWork, manager_id: uuid.UUID, line: str) -> bool:
    """Whether `manager_id` manages an active team of `line`."""
    found = (
        await uow.session.execute(
            text("SELECT 1 FROM teams WHERE manager_id = :p AND line = :l AND active LIMIT 1"),
            {"p": manager_id, "l": line},
        )
    ).first()
    return found is not None


async def active_engineer_line(uow: UnitOfWork, engineer_id: uuid.UUID) -> str | None:
    """The line of an active engineer; None when there is none of that id."""
    line: str | None = (
        await uow.session.execute(
            text("SELECT line FROM engineers WHERE id = :e AND active"), {"e": engineer_id}
        )
    ).scalar_one_or_none()
    return line


# --- policies ---------------------------------------------------------------------------


async def policies_of(uow: UnitOfWork, service_levels: list[str]) -> list[EscalationPolicy]:
    rows = (
        await uow.session.execute(
            select(EscalationPolicy).where(col(EscalationPolicy.service_level).in_(service_levels))
        )
    ).scalars()
    return list(rows)


async def policies_page(uow: UnitOfWork, page: CodePageParams) -> list[EscalationPolicy]:
    """Up to one more than the page's limit, by service level after the cursor."""
    stmt = select(EscalationPolicy)
    if page.after is not None:
        stmt = stmt.where(col(EscalationPolicy.service_level) > page.after)
    stmt = stmt.order_by(col(EscalationPolicy.service_level)).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def service_level_exists(uow: UnitOfWork, code: str) -> bool:
    known = (
        await uow.session.execute(text("SELECT 1 FROM service_levels WHERE code = :c"), {"c": code})
    ).first()
    return known is not None


async def policy_for_update(uow: UnitOfWork, service_level: str) -> EscalationPolicy | None:
    stmt = select(EscalationPolicy).where(col(EscalationPolicy.service_level) == service_level)
    return (await uow.session.execute(stmt.with_for_update())).scalars().first()


async def add_policy(uow: UnitOfWork, policy: EscalationPolicy) -> None:
    uow.session.add(policy)
    await uow.session.flush()


# --- the notice chain, set-based (sla.py, notices.py) -----------------------------------

_POLICIES = "SELECT service_level, functional_on, notify_levels FROM escalation_policies"
_NOTICES = RawSQL(
    """
    INSERT INTO escalation_notices (id, ticket_id, clock_id, after, level, recipients,
                                    due_at, state, created_at)
    SELECT x.id, x.ticket, x.clock, x.after, x.level, x.recipients::jsonb, x.due,
           'pending', :now::timestamptz
    FROM unnest(:ids::uuid[], :tickets::uuid[], :clocks::uuid[], :afters::text[],
                :levels::int[], :recipients::text[], :dues::timestamptz[])
         AS x(id, ticket, clock, after, level, recipients, due)
    ON CONFLICT ON CONSTRAINT uq_escalation_notices_key DO NOTHING
    RETURNING id, due_at
    """
)
_READ = RawSQL(
    """
    SELECT n.id, n.ticket_id, n.clock_id, n.after, n.level, n.recipients,
           c.state AS clock_state, c.outcome, t.status, t.number, t.branch_id, t.priority,
           (SELECT tm.manager_id FROM engineers e JOIN teams tm ON tm.id = e.team_id
            WHERE e.id = COALESCE(t.owner_id, t.secondary_owner_id)) AS manager_id
    FROM escalation_notices n
    JOIN tickets t ON t.id = n.ticket_id
    LEFT JOIN ticket_clocks c ON c.id = n.clock_id
    WHERE n.id = ANY(:ids::uuid[]) AND n.state = 'pending'
    ORDER BY n.id
    FOR UPDATE OF n
    """
)
_STATES = RawSQL(
    """
    UPDATE escalation_notices n SET state = x.state,
           sent_at = CASE WHEN x.state = 'sent' THEN :now::timestamptz END
    FROM unnest(:ids::uuid[], :states::text[]) AS x(id, state)
    WHERE n.id = x.id
    """
)


async def policy_rows(conn: asyncpg.Connection) -> dict[str | None, asyncpg.Record]:
    """Every policy's (service_level, functional_on, notify_levels), by service level."""
    return {r["service_level"]: r for r in await conn.fetch(_POLICIES)}


async def insert_notices(
    conn: asyncpg.Connection, now: datetime, notices: dict[str, list[Any]]
) -> list[asyncpg.Record]:
    """Inserts the notices (columns as lists: ids, tickets, clocks, afters, levels,
    recipients, dues) in one statement, skipping those a clock has already; returns
    (id, due_at) of those inserted."""
    return list(await conn.fetch(_NOTICES.sql, *_NOTICES.args({"now": now, **notices})))


async def lock_pending_notices(
    conn: asyncpg.Connection, notice_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """The notices still pending, locked, with what they are about, in one statement."""
    return list(await conn.fetch(_READ.sql, *_READ.args({"ids": notice_ids})))


async def set_notice_states(
    conn: asyncpg.Connection, now: datetime, ids: list[uuid.UUID], states: list[str]
) -> None:
    """Marks the notices sent (at `now`) or cancelled, in one statement."""
    await conn.execute(_STATES.sql, *_STATES.args({"now": now, "ids": ids, "states": states}))
