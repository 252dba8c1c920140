"""The queries of the ticket domain, each scoped to the principal's branch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, text
from sqlmodel import select

from app.contracts.repository import COVERING_CONTRACT_SQL
from app.core.db import UnitOfWork
from app.core.errors import NotFound
from app.core.security import Principal
from app.tickets.models import Ticket

_sequences_ready: set[str] = set()


async def ensure_number_sequence(uow: UnitOfWork, year: int) -> None:
    """Numbers are T{year}-{n:06d} from a per-year PostgreSQL sequence: no hot row to
    lock (a counter table would serialise every ticket creation), and numbers restart
    each year. Gaps after a rollback are accepted, as with any sequence."""
    seq = f"ticket_number_{year}"
    if seq not in _sequences_ready:
        # The advisory lock makes concurrent first-of-the-year creations wait for
        # each other instead of racing on CREATE SEQUENCE.
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('ticket_number'))"))
        await uow.session.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {seq}"))

        async def remember() -> None:
            _sequences_ready.add(seq)

        # Only once committed: a rolled-back transaction takes its CREATE SEQUENCE along.
        uow.after_commit(remember)


@dataclass
class CreateContext:
    customer_branch_id: uuid.UUID | None
    customer_active: bool
    contact_customer_id: uuid.UUID | None
    device_customer_id: uuid.UUID | None
    category_active: bool | None
    contract_id: uuid.UUID | None
    contract_level: str | None
    default_level: str | None


_CONTEXT_SQL = text(
    f"""
    SELECT c.branch_id, c.active,
           (SELECT customer_id FROM contacts WHERE id = :contact_id) AS contact_customer_id,
           (SELECT customer_id FROM devices WHERE id = :device_id) AS device_customer_id,
           (SELECT active FROM categories WHERE code = :category) AS category_active,
           k.id AS contract_id, k.service_level AS contract_level,
           (SELECT code FROM service_levels WHERE is_default AND active LIMIT 1) AS default_level
    FROM (SELECT 1) AS one
    LEFT JOIN customers c ON c.id = :customer_id
    LEFT JOIN LATERAL ({COVERING_CONTRACT_SQL}    ) k ON true
    """
)


async def create_context(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    category: str,
    today: date,
) -> CreateContext:
    """Everything ticket creation must check, in one round trip (contract coverage is
    the contracts domain's rule, embedded as a subquery)."""
    row = (
        await uow.session.execute(
            _CONTEXT_SQL,
            {
                "customer_id": customer_id,
                "contact_id": contact_id,
                "device_id": device_id,
                "category": category,
                "today": today,
            },
        )
    ).one()
    return CreateContext(
        customer_branch_id=row[0],
        customer_active=bool(row[1]),
        contact_customer_id=row[2],
        device_customer_id=row[3],
        category_active=row[4],
        contract_id=row[5],
        contract_level=row[6],
        default_level=row[7],
    )


async def get_for_update(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.id == ticket_id), Ticket.branch_id)
    ticket = (await uow.session.execute(stmt.with_for_update())).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


async def get(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.id == ticket_id), Ticket.branch_id)
    ticket = (await uow.session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


async def get_by_number(uow: UnitOfWork, principal: Principal, number: str) -> Ticket:
    stmt = principal.scope(select(Ticket).where(Ticket.number == number), Ticket.branch_id)
    ticket = (await uow.session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


@dataclass
class TicketFilters:
    status: list[str] | None = None
    priority: list[str] | None = None
    customer_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    branch_id: uuid.UUID | None = None
    category: str | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    tsquery: str | None = None


# Lists never load the description nor the search vector: pages stay small and fast.
LIST_COLUMNS = [c for c in Ticket.__table__.columns if c.name not in ("search_vector",)]  # type: ignore[attr-defined]


def list_stmt(
    principal: Principal, f: TicketFilters, after: uuid.UUID | None, limit: int
) -> Select[Any]:
    stmt: Select[Any] = select(*LIST_COLUMNS)
    stmt = principal.scope(stmt, Ticket.branch_id)
    conds: list[Any] = []
    if f.status:
        conds.append(Ticket.status.in_(f.status))  # type: ignore[attr-defined]
    if f.priority:
        conds.append(Ticket.priority.in_(f.priority))  # type: ignore[attr-defined]
    for column, value in (
        (Ticket.customer_id, f.customer_id),
        (Ticket.device_id, f.device_id),
        (Ticket.owner_id, f.owner_id),
        (Ticket.branch_id, f.branch_id),
        (Ticket.category, f.category),
        (Ticket.channel, f.channel),
    ):
        if value is not None:
            conds.append(column == value)
    if f.created_from is not None:
        conds.append(Ticket.created_at >= f.created_from)
    if f.created_to is not None:
        conds.append(Ticket.created_at < f.created_to)
    if f.tsquery is not None:
        conds.append(
            Ticket.search_vector.op("@@")(func.to_tsquery("simple", f.tsquery))  # type: ignore[attr-defined]
        )
    if after is not None:
        conds.append(Ticket.id < after)
    if conds:
        stmt = stmt.where(*conds)
    return stmt.order_by(Ticket.id.desc()).limit(limit + 1)  # type: ignore[attr-defined]


async def list_tickets(
    uow: UnitOfWork, principal: Principal, f: TicketFilters, after: uuid.UUID | None, limit: int
) -> list[Any]:
    return list((await uow.session.execute(list_stmt(principal, f, after, limit))).all())


async def owner_branch(
    uow: UnitOfWork, owner_id: uuid.UUID
) -> tuple[bool, uuid.UUID | None] | None:
    """(active, branch_id) of the API identity that would own a ticket, or None."""
    row = (
        await uow.session.execute(
            text("SELECT active, branch_id FROM api_keys WHERE id = :id"), {"id": owner_id}
        )
    ).first()
    return (bool(row[0]), row[1]) if row else None


async def device_branch(uow: UnitOfWork, device_id: uuid.UUID) -> uuid.UUID | None:
    """The branch of the customer owning a device (None when there is no such device)."""
    row = (
        await uow.session.execute(
            text(
                "SELECT c.branch_id FROM devices d JOIN customers c ON c.id = d.customer_id "
                "WHERE d.id = :id"
            ),
            {"id": device_id},
        )
    ).first()
    return row[0] if row else None
