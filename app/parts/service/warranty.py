"""Warranty decisions (保修判定): is a device in its manufacturer's warranty (its install
and warranty-end dates) and under a service contract (the contracts domain's covering
rule) on a given date. Part requests and RMAs store the decision they were made
under, so it is a plain JSON dict."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from app.contracts import service as contracts
from app.core.db import UnitOfWork
from app.core.errors import NotFound
from app.core.security import Principal
from app.devices import service as devices
from app.devices.models import Device

BASES = ("both", "warranty", "contract", "none")


def none_decision(on: date, device_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The decision when there is no device to decide on (a part with no ticket, or a
    ticket with no device): neither warranty nor contract."""
    return {
        "as_of": on.isoformat(),
        "device_id": str(device_id) if device_id else None,
        "install_date": None,
        "warranty_end": None,
        "in_warranty": False,
        "under_contract": False,
        "contract_id": None,
        "contract_number": None,
        "service_level": None,
        "basis": "none",
    }


def in_warranty(device: Device, on: date) -> bool:
    """Within [install_date, warranty_end]. No warranty end: not in warranty; no install
    date (bought before the records): the warranty end alone decides."""
    if device.warranty_end is None or on > device.warranty_end:
        return False
    return device.install_date is None or device.install_date <= on


async def decide_for(uow: UnitOfWork, device: Device, on: date) -> dict[str, Any]:
    """The decision for a device already read (and scoped) by the caller."""
    warranty = in_warranty(device, on)
    contract = await contracts.find_covering_contract(uow, device.customer_id, device.id, on)
    basis = {(True, True): "both", (True, False): "warranty", (False, True): "contract",
             (False, False): "none"}[(warranty, contract is not None)]  # fmt: skip
    return {
        **none_decision(on, device.id),
        "install_date": device.install_date.isoformat() if device.install_date else None,
        "warranty_end": device.warranty_end.isoformat() if device.warranty_end else None,
        "in_warranty": warranty,
        "under_contract": contract is not None,
        "contract_id": str(contract.id) if contract else None,
        "contract_number": contract.number if contract else None,
        "service_level": contract.service_level if contract else None,
        "basis": basis,
    }


async def decide(uow: UnitOfWork, device_id: uuid.UUID, on: date) -> dict[str, Any]:
    """The decision for `device_id` on `on`, unscoped: the caller has resolved the device
    (or the ticket naming it) within its own scope. 404 for no such device."""
    found = await devices.devices_by_ids(uow, [device_id])
    if not found:
        raise NotFound("Device not found.")
    return await decide_for(uow, found[0], on)


async def device_warranty(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, on: date | None
) -> dict[str, Any]:
    """GET /v1/devices/{id}/warranty: a device of another branch is a 404. The date is
    today in the business time zone (Asia/Shanghai) unless given."""
    device = await devices.get_device(uow, principal, device_id)
    return await decide_for(uow, device, on or contracts.business_today())
