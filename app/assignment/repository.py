"""The queries of the assignment domain: handoffs, the facts a choice of engineer reads,
and the engineers' load counters (load.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlmodel import col, select

from app.assignment.models import Handoff
from app.core.db import RawSQL, UnitOfWork
from app.tickets.interface import Ticket

# --- tickets and engineers --------------------------------------------------------------

_FACTS = text(
    """
    SELECT b.parent_id, b.region, d.product_family, c.parent_code
    FROM branches b
    LEFT JOIN devices d ON d.id = :device
    LEFT JOIN categories c ON c.code = :category
    WHERE b.id = :branch
    """
)


async def place_and_skills(
    uow: UnitOfWork, branch_id: uuid.UUID, device_id: uuid.UUID | None, category: str
) -> Any:
    """The branch's parent and region, the device's product family and the category's
    parent (one row)."""
    return (
        await uow.session.execute(
            _FACTS, {"device": device_id, "category": category, "branch": branch_id}
        )
    ).one()


async def ticket(uow: UnitOfWork, ticket_id: uuid.UUID, key_share: bool = False) -> Ticket | None:
    """The ticket, locked FOR KEY SHARE when `key_share`."""
    if key_share:
        return await uow.session.get(Ticket, ticket_id, with_for_update={"key_share": True})
    return await uow.session.get(Ticket, ticket_id)


async def manager_of(uow: UnitOfWork, engineer_id: uuid.UUID) -> uuid.UUID | None:
    """The manager of the engineer's team."""
    row = (
        await uow.session.execute(
            text(
                "SELECT t.manager_id FROM engineers e JOIN teams t ON t.id = e.team_id"
                " WHERE e.id = :e"
            ),
            {"e": engineer_id},
        )
    ).first()
    return row[0] if row else None


# --- handoffs ---------------------------------------------------------------------------


async def open_handoff(uow: UnitOfWork, ticket_id: uuid.UUID) -> Handoff | None:
    stmt = select(Handoff).where(col(Handoff.ticket_id) == ticket_id, col(Handoff.state) == "open")
    return (await uow.session.execute(stmt)).scalars().first()


async def lock_open_handoffs(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[Handoff]:
    stmt = select(Handoff).where(col(Handoff.ticket_id) == ticket_id, col(Handoff.state) == "open")
    return list((await uow.session.execute(stmt.with_for_update())).scalars())


async def handoff_for_update(
    uow: UnitOfWork, handoff_id: uuid.UUID, nowait: bool = False
) -> Handoff | None:
    """The handoff, locked FOR UPDATE (NOWAIT: an error rather than a wait)."""
    lock: Any = {"nowait": True} if nowait else True
    return await uow.session.get(Handoff, handoff_id, with_for_update=lock)


def add_handoff(uow: UnitOfWork, handoff: Handoff) -> None:
    uow.session.add(handoff)


async def handoffs_of(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[Handoff]:
    stmt = select(Handoff).where(col(Handoff.ticket_id) == ticket_id).order_by(col(Handoff.id))
    return list((await uow.session.execute(stmt)).scalars())


# --- the engineers' load counters (load.py) ---------------------------------------------

_GAIN = RawSQL(
    """
    UPDATE engineers SET open_tickets = open_tickets + :n::int,
                         open_load = open_load + :w::int,
                         last_assigned_at = :now::timestamptz
    WHERE id = :id::uuid AND open_tickets + :n::int <= max_load
    RETURNING open_tickets
    """
)
_CHANGE = RawSQL(
    """
    UPDATE engineers SET open_tickets = greatest(open_tickets + :n::int, 0),
                         open_load = greatest(open_load + :w::int, 0)
    WHERE id = :id::uuid
    RETURNING max_load
    """
)
_MAX = RawSQL("SELECT max_load, open_tickets FROM engineers WHERE id = :id::uuid")
_SHARE_IDENTITY = RawSQL("SELECT 1 FROM api_keys WHERE id = :id::uuid FOR SHARE")
_RECOUNT = RawSQL(
    """
    UPDATE engineers e SET open_tickets = c.n, open_load = c.w
    FROM (SELECT count(*)::int AS n,
                 coalesce(sum(CASE priority WHEN 'P1' THEN 4 WHEN 'P2' THEN 3
                                            WHEN 'P3' THEN 2 ELSE 1 END), 0)::int AS w
          FROM tickets WHERE owner_id = :id::uuid AND status = ANY(:open::text[])) c
    WHERE e.id = :id::uuid
    """
)


async def change_load(conn: asyncpg.Connection, owner: uuid.UUID, n: int, w: int) -> bool:
    """Moves an engineer's counters (never below zero); False when he has no row."""
    status = await conn.execute(_CHANGE.sql, *_CHANGE.args({"n": n, "w": w, "id": owner}))
    return bool(status != "UPDATE 0")


async def gain_load(
    conn: asyncpg.Connection, owner: uuid.UUID, n: int, w: int, now: datetime
) -> bool:
    """Adds to an engineer's counters if he stays within his maximum; False when he has
    no row or would pass it."""
    got = await conn.fetchval(_GAIN.sql, *_GAIN.args({"n": n, "w": w, "now": now, "id": owner}))
    return got is not None


async def max_load(conn: asyncpg.Connection, owner: uuid.UUID) -> asyncpg.Record | None:
    """(max_load, open_tickets) of an engineer; None when there is no such row."""
    return await conn.fetchrow(_MAX.sql, *_MAX.args({"id": owner}))


async def share_identity(conn: asyncpg.Connection, key_id: uuid.UUID) -> None:
    """Takes the API identity's row FOR SHARE (waits for a profile being created)."""
    await conn.execute(_SHARE_IDENTITY.sql, *_SHARE_IDENTITY.args({"id": key_id}))


async def recount(uow: UnitOfWork, engineer_id: uuid.UUID, open_statuses: list[str]) -> None:
    conn = await uow.connection()
    await conn.execute(_RECOUNT.sql, *_RECOUNT.args({"id": engineer_id, "open": open_statuses}))
