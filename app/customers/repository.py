"""Customer and contact queries, every one scoped by the principal's branch
(contacts through their customer's branch)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from app.branches.models import Branch
from app.core.db import UnitOfWork
from app.core.security import Principal
from app.customers.models import Contact, Customer


def like_pattern(text: str) -> str:
    """`text` as an ILIKE 'contains' pattern, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def get_customer(
    uow: UnitOfWork, principal: Principal, customer_id: uuid.UUID, lock: bool = False
) -> Customer | None:
    stmt: Any = principal.scope(
        select(Customer).where(col(Customer.id) == customer_id), Customer.branch_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def branch_exists(uow: UnitOfWork, branch_id: uuid.UUID) -> bool:
    return await uow.session.get(Branch, branch_id) is not None


async def customer_id_by_code(uow: UnitOfWork, code: str) -> uuid.UUID | None:
    """Unscoped: codes are unique across all branches."""
    stmt = select(col(Customer.id)).where(col(Customer.code) == code)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def contact_id_by_name(
    uow: UnitOfWork, customer_id: uuid.UUID, name: str
) -> uuid.UUID | None:
    """The caller has checked that the customer is visible."""
    stmt = select(col(Contact.id)).where(
        col(Contact.customer_id) == customer_id, col(Contact.name) == name
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def add(uow: UnitOfWork, row: Customer | Contact) -> None:
    """Inserts `row` now (a unique violation raises IntegrityError here)."""
    uow.session.add(row)
    await uow.session.flush()


async def save(uow: UnitOfWork) -> None:
    """Writes the changes made to loaded rows now."""
    await uow.session.flush()


async def code_taken(uow: UnitOfWork, code: str) -> bool:
    stmt = select(col(Customer.id)).where(col(Customer.code) == code)
    return (await uow.session.execute(stmt)).first() is not None


async def list_customers(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    branch_id: uuid.UUID | None = None,
    q: str | None = None,
    active: bool | None = None,
) -> list[Customer]:
    stmt: Any = principal.scope(select(Customer), Customer.branch_id)
    if branch_id is not None:
        stmt = stmt.where(col(Customer.branch_id) == branch_id)
    if active is not None:
        stmt = stmt.where(col(Customer.active) == active)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            col(Customer.name).ilike(pattern)
            | col(Customer.code).ilike(pattern)
            | col(Customer.name_en).ilike(pattern)
        )
    if after is not None:
        stmt = stmt.where(col(Customer.id) < after)
    stmt = stmt.order_by(col(Customer.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get_contact(
    uow: UnitOfWork, principal: Principal, contact_id: uuid.UUID, lock: bool = False
) -> Contact | None:
    stmt: Any = principal.scope(
        select(Contact)
        .join(Customer, col(Customer.id) == col(Contact.customer_id))
        .where(col(Contact.id) == contact_id),
        Customer.branch_id,
    )
    if lock:
        stmt = stmt.with_for_update(of=Contact)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_contacts(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    *,
    limit: int,
    after: uuid.UUID | None,
    active: bool | None = None,
) -> list[Contact]:
    """The caller has checked that the customer is visible."""
    stmt: Any = select(Contact).where(col(Contact.customer_id) == customer_id)
    if active is not None:
        stmt = stmt.where(col(Contact.active) == active)
    if after is not None:
        stmt = stmt.where(col(Contact.id) < after)
    stmt = stmt.order_by(col(Contact.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())
