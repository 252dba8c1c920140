"""Queries of inbound sources, and the checks of what a source names (its customer, its
category) against their tables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from app.catalogue.models import Category
from app.core.db import UnitOfWork
from app.customers.models import Customer
from app.hooks.models import HookSource


async def get(uow: UnitOfWork, source_id: uuid.UUID, lock: bool = False) -> HookSource | None:
    stmt: Any = select(HookSource).where(col(HookSource.id) == source_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def active_by_key(uow: UnitOfWork, key: str) -> HookSource | None:
    stmt = select(HookSource).where(col(HookSource.key) == key, col(HookSource.active))
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def key_taken(uow: UnitOfWork, key: str) -> bool:
    stmt = select(col(HookSource.id)).where(col(HookSource.key) == key)
    return (await uow.session.execute(stmt)).first() is not None


async def add(uow: UnitOfWork, row: HookSource) -> None:
    """Inserts now (a unique violation raises IntegrityError here)."""
    uow.session.add(row)
    await uow.session.flush()


async def save(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def delete(uow: UnitOfWork, row: HookSource) -> None:
    await uow.session.delete(row)
    await uow.session.flush()


async def list_sources(
    uow: UnitOfWork, *, limit: int, after: uuid.UUID | None, active: bool | None = None
) -> list[HookSource]:
    stmt: Any = select(HookSource)
    if active is not None:
        stmt = stmt.where(col(HookSource.active) == active)
    if after is not None:
        stmt = stmt.where(col(HookSource.id) < after)
    stmt = stmt.order_by(col(HookSource.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def customer_active(uow: UnitOfWork, customer_id: uuid.UUID) -> bool | None:
    """Whether the customer is active; None when there is none."""
    stmt = select(col(Customer.active)).where(col(Customer.id) == customer_id)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def category_active(uow: UnitOfWork, code: str) -> bool | None:
    """Whether the category is active; None when the catalogue has no such code."""
    stmt = select(col(Category.active)).where(col(Category.code) == code)
    return (await uow.session.execute(stmt)).scalar_one_or_none()
