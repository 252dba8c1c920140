"""Device queries, scoped by the principal's branch through the owning customer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.core.security import Principal
from app.customers.models import Customer
from app.customers.repository import like_pattern
from app.devices.models import Device


def _scoped(principal: Principal) -> Any:
    return principal.scope(
        select(Device).join(Customer, col(Customer.id) == col(Device.customer_id)),
        Customer.branch_id,
    )


async def get_device(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, lock: bool = False
) -> Device | None:
    stmt = _scoped(principal).where(col(Device.id) == device_id)
    if lock:
        stmt = stmt.with_for_update(of=Device)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def add(uow: UnitOfWork, device: Device) -> None:
    """Inserts `device` now (a unique violation raises IntegrityError here)."""
    uow.session.add(device)
    await uow.session.flush()


async def save(uow: UnitOfWork) -> None:
    """Writes the changes made to loaded rows now."""
    await uow.session.flush()


async def find_by_model_serial(
    uow: UnitOfWork, model: str, serial: str, exclude: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Unscoped on purpose: (model, serial) is unique across the whole installed base."""
    stmt = select(col(Device.id)).where(col(Device.model) == model, col(Device.serial) == serial)
    if exclude is not None:
        stmt = stmt.where(col(Device.id) != exclude)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_devices(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    customer_id: uuid.UUID | None = None,
    product_family: str | None = None,
    serial: str | None = None,
    q: str | None = None,
    active: bool | None = None,
) -> list[Device]:
    stmt = _scoped(principal)
    if customer_id is not None:
        stmt = stmt.where(col(Device.customer_id) == customer_id)
    if product_family is not None:
        stmt = stmt.where(col(Device.product_family) == product_family)
    if serial is not None:
        stmt = stmt.where(col(Device.serial) == serial)
    if active is not None:
        stmt = stmt.where(col(Device.active) == active)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            col(Device.serial).ilike(pattern)
            | col(Device.model).ilike(pattern)
            | col(Device.site).ilike(pattern)
            | col(Device.software_version).ilike(pattern)
        )
    if after is not None:
        stmt = stmt.where(col(Device.id) < after)
    stmt = stmt.order_by(col(Device.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def devices_by_ids(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> list[Device]:
    """Unscoped: for callers that check ownership themselves (contract coverage)."""
    id_list = list(ids)
    if not id_list:
        return []
    stmt = select(Device).where(col(Device.id).in_(id_list)).order_by(col(Device.id))
    return list((await uow.session.execute(stmt)).scalars())
