"""The queries of major incidents: the incidents and their updates, the links to tickets,
and the ticket and device rows the automatic declaration rule counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.incidents.models import IncidentUpdate, MajorIncident
from app.tickets.interface import OPEN_STATUSES, Ticket


async def flush(uow: UnitOfWork) -> None:
    """Writes the pending changes (an incident's unique keys are checked here)."""
    await uow.session.flush()


def savepoint(uow: UnitOfWork) -> Any:
    """A nested transaction: a change that fails inside it is undone alone."""
    return uow.session.begin_nested()


async def lock_family(uow: UnitOfWork, family: str) -> None:
    """Serialises declarations for one product family (the automatic rule and people)."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('incident:' || :f))"), {"f": family}
    )


async def product_family_exists(uow: UnitOfWork, family: str) -> bool:
    found = await uow.session.execute(
        text("SELECT 1 FROM product_families WHERE code = :f"), {"f": family}
    )
    return found.first() is not None


async def open_for(uow: UnitOfWork, family: str) -> MajorIncident | None:
    stmt = select(MajorIncident).where(
        col(MajorIncident.product_family) == family, col(MajorIncident.state) == "open"
    )
    return (await uow.session.execute(stmt)).scalars().first()


async def get(uow: UnitOfWork, incident_id: uuid.UUID, lock: bool = False) -> MajorIncident | None:
    stmt = select(MajorIncident).where(col(MajorIncident.id) == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalars().first()


async def get_nowait(uow: UnitOfWork, incident_id: uuid.UUID) -> MajorIncident | None:
    """The incident locked, or an error at once if someone holds the lock."""
    return await uow.session.get(MajorIncident, incident_id, with_for_update={"nowait": True})


def add(uow: UnitOfWork, row: MajorIncident | IncidentUpdate) -> None:
    uow.session.add(row)


async def link_ticket(
    uow: UnitOfWork, incident_id: uuid.UUID, ticket_id: uuid.UUID, now: datetime
) -> bool:
    """Links the ticket; False when it was linked already."""
    res = await uow.session.execute(
        text(
            "INSERT INTO incident_tickets (incident_id, ticket_id, linked_at)"
            " VALUES (:i, :t, :now) ON CONFLICT DO NOTHING"
        ),
        {"i": incident_id, "t": ticket_id, "now": now},
    )
    return bool(getattr(res, "rowcount", 0))


async def linked_in_id_order(uow: UnitOfWork, incident_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await uow.session.execute(
        text("SELECT ticket_id FROM incident_tickets WHERE incident_id = :i ORDER BY ticket_id"),
        {"i": incident_id},
    )
    return [r[0] for r in rows.all()]


async def lock_tickets(uow: UnitOfWork, ids: list[uuid.UUID]) -> None:
    """Locks the tickets in id order (the order every multi-ticket change takes)."""
    await uow.session.execute(
        text("SELECT id FROM tickets WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"),
        {"ids": ids},
    )


async def linked_ids(
    uow: UnitOfWork, incident_id: uuid.UUID, branch_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The linked tickets in the order linked, those of `branch_id` only unless None."""
    rows = await uow.session.execute(
        text(
            "SELECT it.ticket_id FROM incident_tickets it JOIN tickets t ON t.id = it.ticket_id"
            " WHERE it.incident_id = :i AND (CAST(:b AS uuid) IS NULL OR t.branch_id = :b)"
            " ORDER BY it.linked_at, it.ticket_id"
        ),
        {"i": incident_id, "b": branch_id},
    )
    return [r[0] for r in rows.all()]


async def updates(uow: UnitOfWork, incident_id: uuid.UUID) -> list[IncidentUpdate]:
    stmt = select(IncidentUpdate).where(col(IncidentUpdate.incident_id) == incident_id)
    return list((await uow.session.execute(stmt.order_by(col(IncidentUpdate.id)))).scalars())


async def list_incidents(
    uow: UnitOfWork, state: str | None, after: uuid.UUID | None, limit: int
) -> list[MajorIncident]:
    """Newest first, one more than `limit` (to tell whether a next page exists)."""
    stmt = select(MajorIncident)
    if state is not None:
        stmt = stmt.where(col(MajorIncident.state) == state)
    if after is not None:
        stmt = stmt.where(col(MajorIncident.id) < after)
    stmt = stmt.order_by(col(MajorIncident.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def open_p1_family(uow: UnitOfWork, ticket_id: uuid.UUID) -> str | None:
    """The product family of the ticket's device, if the ticket is an open P1 on a device."""
    row = (
        await uow.session.execute(
            text(
                "SELECT d.product_family FROM tickets t JOIN devices d ON d.id = t.device_id"
                " WHERE t.id = :t AND t.priority = 'P1' AND t.status = ANY(:open)"
            ),
            {"t": ticket_id, "open": list(OPEN_STATUSES)},
        )
    ).first()
    return None if row is None else row[0]


async def recent_open_p1(uow: UnitOfWork, family: str, since: datetime) -> list[uuid.UUID]:
    """The open P1 tickets on the family's devices created since `since`, in id order."""
    rows = await uow.session.execute(
        text(
            "SELECT t.id FROM tickets t JOIN devices d ON d.id = t.device_id"
            " WHERE d.product_family = :f AND t.priority = 'P1' AND t.created_at >= :since"
            " AND t.status = ANY(:open) ORDER BY t.id"
        ),
        {"f": family, "since": since, "open": list(OPEN_STATUSES)},
    )
    return [r[0] for r in rows.all()]


async def ticket(uow: UnitOfWork, ticket_id: uuid.UUID) -> Ticket | None:
    """A ticket by id, unscoped (the worker side acts for the system)."""
    return await uow.session.get(Ticket, ticket_id)


async def tickets(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> list[Ticket]:
    """The tickets by id, one at a time in the given order, those that exist."""
    return [t for t in [await uow.session.get(Ticket, i) for i in ids] if t is not None]
