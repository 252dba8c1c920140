"""Callback policies' SQL: the default row (no customer), a customer's own row, and the
one that applies to a customer (its own, else the default) in one query."""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from app.callbacks.models import CallbackPolicy
from app.core.db import UnitOfWork


async def default(uow: UnitOfWork, lock: bool = False) -> CallbackPolicy | None:
    stmt = select(CallbackPolicy).where(col(CallbackPolicy.customer_id).is_(None))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def own(uow: UnitOfWork, customer_id: uuid.UUID, lock: bool = False) -> CallbackPolicy | None:
    stmt = select(CallbackPolicy).where(col(CallbackPolicy.customer_id) == customer_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def effective(uow: UnitOfWork, customer_id: uuid.UUID) -> CallbackPolicy | None:
    """The customer's own policy, else the default (nulls sort last)."""
    stmt = (
        select(CallbackPolicy)
        .where(
            (col(CallbackPolicy.customer_id) == customer_id)
            | col(CallbackPolicy.customer_id).is_(None)
        )
        .order_by(col(CallbackPolicy.customer_id).asc().nulls_last())
        .limit(1)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


def add(uow: UnitOfWork, row: CallbackPolicy) -> None:
    uow.session.add(row)


async def delete(uow: UnitOfWork, row: CallbackPolicy) -> None:
    await uow.session.delete(row)
    await uow.session.flush()


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def for_customers(
    uow: UnitOfWork, customer_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, CallbackPolicy], CallbackPolicy | None]:
    """The own policies of these customers (by customer) and the default, in one query."""
    stmt = select(CallbackPolicy).where(
        col(CallbackPolicy.customer_id).in_(customer_ids)
        | col(CallbackPolicy.customer_id).is_(None)
    )
    own: dict[uuid.UUID, CallbackPolicy] = {}
    fallback = None
    for row in (await uow.session.execute(stmt)).scalars():
        if row.customer_id is None:
            fallback = row
        else:
            own[row.customer_id] = row
    return own, fallback
