"""Callbacks' SQL: one callback (scoped by its branch, or unscoped for a timer), the open
callback of a ticket, a ticket's open callbacks ended together, the attempts made, and
the queue: open or any callbacks ordered by due time (keyset on due time and id)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select, tuple_

from app.callbacks.models import Callback, CallbackAttempt
from app.core.db import UnitOfWork
from app.core.security import Principal


async def get(
    uow: UnitOfWork,
    principal: Principal | None,
    callback_id: uuid.UUID,
    lock: bool = False,
    nowait: bool = False,
) -> Callback | None:
    """The callback in the principal's branch (any branch for None: a timer). `nowait`:
    a lock error at once if a request holds it (a timer gives way)."""
    stmt: Any = select(Callback).where(col(Callback.id) == callback_id)
    if principal is not None:
        stmt = principal.scope(stmt, col(Callback.branch_id))
    if lock:
        stmt = stmt.with_for_update(nowait=nowait).execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def open_of_ticket(uow: UnitOfWork, ticket_id: uuid.UUID) -> list[Callback]:
    """A ticket's open callbacks, locked (at most one: a partial unique index)."""
    stmt = (
        select(Callback)
        .where(col(Callback.ticket_id) == ticket_id, col(Callback.state) == "open")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await uow.session.execute(stmt)).scalars())


async def attempts(uow: UnitOfWork, callback_id: uuid.UUID) -> list[CallbackAttempt]:
    stmt = (
        select(CallbackAttempt)
        .where(col(CallbackAttempt.callback_id) == callback_id)
        .order_by(col(CallbackAttempt.at), col(CallbackAttempt.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


@dataclass(frozen=True, slots=True)
class QueueFilter:
    agent_id: uuid.UUID | None = None
    unassigned: bool | None = None
    state: str | None = None
    reason: str | None = None
    due_before: datetime | None = None
    ticket_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    overdue: bool | None = None
    # Overdue: open and due at or before this instant (now less the grace).
    overdue_cutoff: datetime | None = None


async def queue(
    uow: UnitOfWork,
    principal: Principal,
    f: QueueFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Callback]:
    """Soonest due first, then by id; `limit + 1` rows (the caller pages)."""
    stmt: Any = principal.scope(select(Callback), col(Callback.branch_id))
    for column, value in (
        (Callback.agent_id, f.agent_id),
        (Callback.state, f.state),
        (Callback.reason, f.reason),
        (Callback.ticket_id, f.ticket_id),
        (Callback.customer_id, f.customer_id),
        (Callback.plan_id, f.plan_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if f.unassigned is not None:
        agent = col(Callback.agent_id)
        stmt = stmt.where(agent.is_(None) if f.unassigned else agent.is_not(None))
    if f.due_before is not None:
        stmt = stmt.where(col(Callback.due_at) < f.due_before)
    if f.overdue is not None and f.overdue_cutoff is not None:
        late = (col(Callback.state) == "open") & (col(Callback.due_at) <= f.overdue_cutoff)
        stmt = stmt.where(late if f.overdue else ~late)
    if after is not None:
        stmt = stmt.where(tuple_(col(Callback.due_at), col(Callback.id)) > tuple_(*after))
    stmt = stmt.order_by(col(Callback.due_at), col(Callback.id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


def add(uow: UnitOfWork, row: Callback | CallbackAttempt) -> None:
    uow.session.add(row)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()
