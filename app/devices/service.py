"""Installed-base rules: a device belongs to a customer the key can see and to an
active product family, (model, serial) is unique, and the warranty cannot end before
the installation. Service history is the tickets domain's (by device_id)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.catalogue import service as catalogue
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.customers import service as customers
from app.devices import repository
from app.devices.models import Device
from app.devices.schemas import DeviceCreate, DeviceUpdate

_NOT_NULL = {"serial", "model", "product_family", "active"}


def _duplicate(model: str, serial: str) -> Conflict:
    return Conflict(f"A device with model '{model}' and serial '{serial}' exists.", field="serial")


async def _check_family(uow: UnitOfWork, code: str) -> None:
    if await catalogue.active_product_family(uow, code) is None:
        raise Unprocessable(
            f"product_family '{code}' does not name an active product family.",
            field="product_family",
        )


async def _flush(uow: UnitOfWork, device: Device, insert: bool = False) -> None:
    """Writes now, inserting `device` if `insert`."""
    try:
        if insert:
            await repository.add(uow, device)
        else:
            await repository.save(uow)
    except IntegrityError as exc:  # a concurrent write took the (model, serial)
        raise _duplicate(device.model, device.serial) from exc


async def create_device(uow: UnitOfWork, principal: Principal, data: DeviceCreate) -> Device:
    # A customer outside the key's scope is reported exactly like a missing one.
    if await customers.visible_customer(uow, principal, data.customer_id) is None:
        raise Unprocessable("customer_id does not name a customer.", field="customer_id")
    await _check_family(uow, data.product_family)
    if await repository.find_by_model_serial(uow, data.model, data.serial):
        raise _duplicate(data.model, data.serial)
    device = Device(**data.model_dump())
    await _flush(uow, device, insert=True)
    return device


async def get_device(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, lock: bool = False
) -> Device:
    device = await repository.get_device(uow, principal, device_id, lock=lock)
    if device is None:
        raise NotFound("Device not found.")
    return device


async def list_devices(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    customer_id: uuid.UUID | None = None,
    product_family: str | None = None,
    serial: str | None = None,
    q: str | None = None,
    active: bool | None = None,
) -> Page[Device]:
    rows = await repository.list_devices(
        uow,
        principal,
        limit=page.limit,
        after=page.after,
        customer_id=customer_id,
        product_family=product_family,
        serial=serial,
        q=q,
        active=active,
    )
    return make_page(rows, page.limit)


async def update_device(
    uow: UnitOfWork,
    principal: Principal,
    device_id: uuid.UUID,
    data: DeviceUpdate,
    if_match: str | None,
) -> Device:
    device = await get_device(uow, principal, device_id, lock=True)
    check_if_match(if_match, device.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    family = changes.get("product_family")
    if family is not None and family != device.product_family:
        await _check_family(uow, family)
    install = changes.get("install_date", device.install_date)
    warranty = changes.get("warranty_end", device.warranty_end)
    if install and warranty and warranty < install:
        raise Unprocessable("warranty_end must not be before install_date.", field="warranty_end")
    model = changes.get("model", device.model)
    serial = changes.get("serial", device.serial)
    if (model, serial) != (device.model, device.serial) and (
        await repository.find_by_model_serial(uow, model, serial, exclude=device.id)
    ):
        raise _duplicate(model, serial)
    for field, value in changes.items():
        setattr(device, field, value)
    device.version += 1
    device.updated_at = get_clock().now()
    await _flush(uow, device)
    return device


async def devices_by_ids(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> list[Device]:
    """For other domains (contract coverage): the devices that exist among `ids`,
    unscoped; the caller checks ownership."""
    return await repository.devices_by_ids(uow, ids)
