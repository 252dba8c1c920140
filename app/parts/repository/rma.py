"""The queries of RMAs (返修): scoped by the principal's branch, locked for a step, and
listed newest first."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.parts.models import OPEN_RMA_STATES, Rma, Serial


async def insert(uow: UnitOfWork, rma: Rma) -> bool:
    """Inserts the RMA now; False when an open RMA of the same device or serial won a
    race to the unique index (the savepoint keeps the transaction usable)."""
    try:
        async with uow.session.begin_nested():
            uow.session.add(rma)
            await uow.session.flush()
    except IntegrityError:
        return False
    return True


async def flush(uow: UnitOfWork) -> None:
    """Writes now (the open-return unique indexes are checked here)."""
    await uow.session.flush()


async def get(
    uow: UnitOfWork, principal: Principal | None, rma_id: uuid.UUID, lock: bool = False
) -> Rma | None:
    """The RMA, in the principal's branch (any branch for None: a timer)."""
    stmt = select(Rma).where(col(Rma.id) == rma_id)
    if principal is not None:
        stmt = principal.scope(stmt, col(Rma.branch_id))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def get_nowait(uow: UnitOfWork, rma_id: uuid.UUID) -> Rma | None:
    """The RMA locked, or an error at once if a step holds it (a timer gives way)."""
    stmt = (
        select(Rma)
        .where(col(Rma.id) == rma_id)
        .with_for_update(nowait=True)
        .execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def open_for_subject(
    uow: UnitOfWork,
    device_id: uuid.UUID | None,
    part_id: uuid.UUID | None,
    serial_number: str | None,
) -> Rma | None:
    """The open RMA of this device or serial, any branch (one at a time)."""
    stmt = select(Rma).where(col(Rma.state).in_(OPEN_RMA_STATES))
    if device_id is not None:
        stmt = stmt.where(col(Rma.device_id) == device_id)
    elif part_id is not None and serial_number is not None:
        stmt = stmt.where(col(Rma.part_id) == part_id, col(Rma.serial_number) == serial_number)
    else:
        return None
    return (await uow.session.execute(stmt.limit(1))).scalar_one_or_none()


async def lock_serial(uow: UnitOfWork, serial_id: uuid.UUID) -> Serial | None:
    """The serial row locked (the caller holds its balance first: the ledger's order)."""
    stmt = (
        select(Serial)
        .where(col(Serial.id) == serial_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_rmas(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    state: str | None = None,
    open_only: bool | None = None,
    ticket_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    created_before: datetime | None = None,
) -> list[Rma]:
    """Newest first by id (ids are time-ordered), keyset-paged on it."""
    stmt = principal.scope(select(Rma), col(Rma.branch_id))
    if state is not None:
        stmt = stmt.where(col(Rma.state) == state)
    if open_only is True:
        stmt = stmt.where(col(Rma.state).in_(OPEN_RMA_STATES))
    elif open_only is False:
        stmt = stmt.where(col(Rma.state).not_in(OPEN_RMA_STATES))
    if ticket_id is not None:
        stmt = stmt.where(col(Rma.ticket_id) == ticket_id)
    if customer_id is not None:
        stmt = stmt.where(col(Rma.customer_id) == customer_id)
    if created_before is not None:
        stmt = stmt.where(col(Rma.created_at) <= created_before)
    if after is not None:
        stmt = stmt.where(col(Rma.id) < after)
    stmt = stmt.order_by(col(Rma.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())
