"""Part requests and their reservations: SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.parts.models import PartRequest, Reservation, Serial, StockBalance

UNDELIVERED = ("awaiting_approval", "approved", "dispatched")


def add(uow: UnitOfWork, *rows: Any) -> None:
    uow.session.add_all(rows)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


def _scoped(principal: Principal) -> Any:
    return principal.scope(select(PartRequest), PartRequest.branch_id)


async def get(
    uow: UnitOfWork, principal: Principal, request_id: uuid.UUID, lock: bool = False
) -> PartRequest | None:
    stmt = _scoped(principal).where(col(PartRequest.id) == request_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def get_any(uow: UnitOfWork, request_id: uuid.UUID, lock: bool = False) -> PartRequest | None:
    stmt = select(PartRequest).where(col(PartRequest.id) == request_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def of_ticket(uow: UnitOfWork, ticket_id: uuid.UUID, lock: bool = False) -> list[PartRequest]:
    stmt = select(PartRequest).where(col(PartRequest.ticket_id) == ticket_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    stmt = stmt.order_by(col(PartRequest.id))
    return list((await uow.session.execute(stmt)).scalars())


async def undelivered_count(
    uow: UnitOfWork, ticket_id: uuid.UUID, states: Sequence[str] = UNDELIVERED
) -> int:
    stmt = select(func.count()).where(
        col(PartRequest.ticket_id) == ticket_id, col(PartRequest.state).in_(list(states))
    )
    return int((await uow.session.execute(stmt)).scalar_one())


async def list_requests(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    state: str | None = None,
    open_only: bool | None = None,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
) -> list[PartRequest]:
    stmt = _scoped(principal)
    for column, value in ((PartRequest.state, state), (PartRequest.part_id, part_id),
                          (PartRequest.warehouse_id, warehouse_id),
                          (PartRequest.ticket_id, ticket_id)):  # fmt: skip
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if open_only:
        stmt = stmt.where(col(PartRequest.state).in_([*UNDELIVERED, "delivered"]))
    if after is not None:
        stmt = stmt.where(col(PartRequest.id) < after)
    stmt = stmt.order_by(col(PartRequest.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def reservations_of(
    uow: UnitOfWork, request_ids: Iterable[uuid.UUID], active_only: bool = False
) -> list[Reservation]:
    ids = list(request_ids)
    if not ids:
        return []
    stmt = select(Reservation).where(col(Reservation.request_id).in_(ids))
    if active_only:
        stmt = stmt.where(col(Reservation.state) == "active")
    stmt = stmt.order_by(col(Reservation.id))
    return list((await uow.session.execute(stmt)).scalars())


async def available_in(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Available units of a part in these warehouses, read without locks (the choice of a
    warehouse; the reservation then locks the chosen balance and checks again)."""
    if not warehouse_ids:
        return {}
    stmt = select(col(StockBalance.warehouse_id), col(StockBalance.on_hand),
                  col(StockBalance.reserved)).where(
        col(StockBalance.part_id) == part_id,
        col(StockBalance.warehouse_id).in_(list(warehouse_ids)),
    )  # fmt: skip
    return {w: on - res for w, on, res in (await uow.session.execute(stmt)).all()}


async def free_serials(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID, count: int
) -> list[Serial]:
    """Good, unreserved, non-loaner serials of a part in a warehouse, locked. Called with
    the balance row locked, so no other reservation of this part here runs meanwhile."""
    stmt = (
        select(Serial)
        .where(
            col(Serial.part_id) == part_id,
            col(Serial.warehouse_id) == warehouse_id,
            col(Serial.place) == "warehouse",
            col(Serial.condition) == "good",
            col(Serial.loaner).is_(False),
            ~select(Reservation.id)
            .where(col(Reservation.serial_id) == col(Serial.id), col(Reservation.state) == "active")
            .exists(),
        )
        .order_by(col(Serial.id))
        .limit(count)
        .with_for_update()
    )
    return list((await uow.session.execute(stmt)).scalars())


async def serial_reserved(uow: UnitOfWork, serial_id: uuid.UUID) -> bool:
    stmt = select(func.count()).where(
        col(Reservation.serial_id) == serial_id, col(Reservation.state) == "active"
    )
    return int((await uow.session.execute(stmt)).scalar_one()) > 0


async def savepoint(uow: UnitOfWork) -> Any:
    """A savepoint: rolled back, it releases the row locks taken after it (a warehouse
    tried and found short is let go at once, so lock order cannot cycle)."""
    return await uow.session.begin_nested()
