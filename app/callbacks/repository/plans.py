"""Contact plans' SQL: one plan (scoped by its branch, or unscoped for a timer), and
lists newest first (keyset on the id)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from app.callbacks.models import ContactPlan
from app.core.db import UnitOfWork
from app.core.security import Principal


async def get(
    uow: UnitOfWork,
    principal: Principal | None,
    plan_id: uuid.UUID,
    lock: bool = False,
    nowait: bool = False,
) -> ContactPlan | None:
    stmt: Any = select(ContactPlan).where(col(ContactPlan.id) == plan_id)
    if principal is not None:
        stmt = principal.scope(stmt, col(ContactPlan.branch_id))
    if lock:
        stmt = stmt.with_for_update(nowait=nowait).execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_plans(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    customer_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> list[ContactPlan]:
    stmt: Any = principal.scope(select(ContactPlan), col(ContactPlan.branch_id))
    for column, value in (
        (ContactPlan.customer_id, customer_id),
        (ContactPlan.agent_id, agent_id),
        (ContactPlan.active, active),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if after is not None:
        stmt = stmt.where(col(ContactPlan.id) < after)
    stmt = stmt.order_by(col(ContactPlan.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


def add(uow: UnitOfWork, row: ContactPlan) -> None:
    uow.session.add(row)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()
