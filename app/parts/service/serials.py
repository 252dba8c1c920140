"""Serials of serialised parts: finding them, and adding one the ledger is about to move
(a receipt, or a part that comes back and was never in stock: a vendor's replacement,
a defective part taken off a device)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.parts.models import Serial
from app.parts.repository import stock as repo
from app.parts.service.ledger import Place


async def serial_by_id(uow: UnitOfWork, serial_id: uuid.UUID) -> Serial:
    found = await repo.get_serial(uow, serial_id)
    if found is None:
        raise NotFound("Serial not found.")
    return found


async def serial_in_body(uow: UnitOfWork, serial_id: uuid.UUID, field: str = "serial_id") -> Serial:
    found = await repo.get_serial(uow, serial_id)
    if found is None:
        raise Unprocessable(f"{field} does not name a serial.", field=field)
    return found


async def serial_by_number(uow: UnitOfWork, part_id: uuid.UUID, number: str) -> Serial | None:
    return await repo.serial_by_number(uow, part_id, number)


async def serials_by_number(uow: UnitOfWork, number: str) -> list[Serial]:
    return await repo.serials_by_number(uow, number)


async def new_serial(uow: UnitOfWork, part_id: uuid.UUID, number: str, where: Place) -> Serial:
    """A new serial row, placed where it is now (the posting that brings it in moves it
    on). Unique per part in the database: a duplicate answers 409, whoever raced."""
    serial = Serial(
        part_id=part_id,
        serial=number,
        place=where.place,
        condition=where.condition,
        warehouse_id=where.warehouse_id,
        customer_id=where.customer_id,
        device_id=where.device_id,
        loaner=bool(where.loaner),
    )
    try:
        async with uow.session.begin_nested():
            repo.add_serial(uow, serial)
            await repo.flush(uow)
    except IntegrityError as exc:
        raise Conflict(f"Serial '{number}' of this part exists already.", field="serials",
                       serial=number) from exc  # fmt: skip
    return serial
