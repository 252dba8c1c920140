"""Service contract rules.

- number is unique; the service level must exist and be active when named; the
  validity runs from starts_on to ends_on inclusive (ends_on >= starts_on).
- Covered devices must belong to the contract's customer.
- Effective status: a contract whose ends_on is past is *expired*, whatever status the
  row records. Why computed, not stored: expiry is a fact of the calendar, not an event
  anyone performs; a nightly job flipping rows could be late, fail or run twice, and the
  API (and ticket registration) would lie meanwhile. The recorded status is what people
  decide (active / suspended / expired early) and stays visible as `recorded_status`.
- "Today" is the business date in China (Asia/Shanghai), where the contracts are signed
  and their dates are meant.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from app.catalogue import service as catalogue
from app.contracts import repository
from app.contracts.models import Contract
from app.contracts.schemas import (
    ContractCreate,
    ContractDevicesOut,
    ContractOut,
    ContractUpdate,
)
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.customers import service as customers
from app.devices import service as devices
from app.devices.schemas import DeviceOut

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
_NOT_NULL = {"number", "service_level", "starts_on", "ends_on", "status"}


def business_today() -> date:
    return get_clock().now().astimezone(BUSINESS_TZ).date()


def effective_status(contract: Contract, today: date) -> str:
    return "expired" if contract.ends_on < today else contract.status


def to_out(contract: Contract, today: date | None = None) -> ContractOut:
    today = today or business_today()
    return ContractOut(
        id=contract.id,
        customer_id=contract.customer_id,
        number=contract.number,
        service_level=contract.service_level,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        status=effective_status(contract, today),  # type: ignore[arg-type]
        recorded_status=contract.status,  # type: ignore[arg-type]
        notes=contract.notes,
        version=contract.version,
        created_at=contract.created_at,
        updated_at=contract.updated_at,
    )


def _duplicate(number: str) -> Conflict:
    return Conflict(f"A contract numbered '{number}' exists.", field="number")


async def _check_level(uow: UnitOfWork, code: str) -> None:
    if await catalogue.active_service_level(uow, code) is None:
        raise Unprocessable(
            f"service_level '{code}' does not name an active service level.",
            field="service_level",
        )


async def _flush(uow: UnitOfWork, number: str, new: Contract | None = None) -> None:
    """Writes now, inserting `new` if given."""
    try:
        if new is None:
            await repository.save(uow)
        else:
            await repository.add(uow, new)
    except IntegrityError as exc:  # a concurrent write took the number
        raise _duplicate(number) from exc


async def create_contract(uow: UnitOfWork, principal: Principal, data: ContractCreate) -> Contract:
    if await customers.visible_customer(uow, principal, data.customer_id) is None:
        raise Unprocessable("customer_id does not name a customer.", field="customer_id")
    await _check_level(uow, data.service_level)
    if await repository.number_taken(uow, data.number):
        raise _duplicate(data.number)
    contract = Contract(**data.model_dump())
    await _flush(uow, data.number, new=contract)
    return contract


async def get_contract(
    uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID, lock: bool = False
) -> Contract:
    contract = await repository.get_contract(uow, principal, contract_id, lock=lock)
    if contract is None:
        raise NotFound("Contract not found.")
    return contract


async def list_contracts(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    customer_id: uuid.UUID | None = None,
    status: str | None = None,
    service_level: str | None = None,
    number: str | None = None,
) -> Page[ContractOut]:
    today = business_today()
    rows = await repository.list_contracts(
        uow,
        principal,
        limit=page.limit,
        after=page.after,
        today=today,
        customer_id=customer_id,
        status=status,
        service_level=service_level,
        number=number,
    )
    result = make_page(rows, page.limit)
    return Page[ContractOut](
        items=[to_out(c, today) for c in result.items], next_cursor=result.next_cursor
    )


def _touch(contract: Contract) -> None:
    contract.version += 1
    contract.updated_at = get_clock().now()


async def update_contract(
    uow: UnitOfWork,
    principal: Principal,
    contract_id: uuid.UUID,
    data: ContractUpdate,
    if_match: str | None,
) -> Contract:
    contract = await get_contract(uow, principal, contract_id, lock=True)
    check_if_match(if_match, contract.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field in _NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    level = changes.get("service_level")
    if level is not None and level != contract.service_level:
        await _check_level(uow, level)
    starts = changes.get("starts_on", contract.starts_on)
    ends = changes.get("ends_on", contract.ends_on)
    if ends < starts:
        raise Unprocessable("ends_on must not be before starts_on.", field="ends_on")
    number = changes.get("number", contract.number)
    if number != contract.number and await repository.number_taken(
        uow, number, exclude=contract.id
    ):
        raise _duplicate(number)
    for field, value in changes.items():
        setattr(contract, field, value)
    _touch(contract)
    await _flush(uow, number)
    return contract


async def covered_devices(
    uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID
) -> tuple[Contract, ContractDevicesOut]:
    contract = await get_contract(uow, principal, contract_id)
    rows = await repository.covered_devices(uow, contract.id)
    return contract, ContractDevicesOut(
        contract_id=contract.id,
        version=contract.version,
        devices=[DeviceOut.model_validate(d) for d in rows],
    )


async def replace_covered_devices(
    uow: UnitOfWork,
    principal: Principal,
    contract_id: uuid.UUID,
    device_ids: list[uuid.UUID],
    if_match: str | None,
) -> tuple[Contract, ContractDevicesOut]:
    """Replace the covered set. Unknown ids and other customers' devices are refused
    alike (422 listing them): which of the two it is, is not the caller's to learn."""
    contract = await get_contract(uow, principal, contract_id, lock=True)
    check_if_match(if_match, contract.version)
    wanted = list(dict.fromkeys(device_ids))
    found = await devices.devices_by_ids(uow, wanted)
    owned = {d.id for d in found if d.customer_id == contract.customer_id}
    offending = [d for d in wanted if d not in owned]
    if offending:
        raise Unprocessable(
            f"{len(offending)} device(s) do not belong to the contract's customer.",
            field="device_ids",
            device_ids=[str(d) for d in offending],
        )
    await repository.replace_covered(uow, contract.id, wanted)
    _touch(contract)
    await repository.save(uow)
    rows = sorted(found, key=lambda d: d.id)
    return contract, ContractDevicesOut(
        contract_id=contract.id,
        version=contract.version,
        devices=[DeviceOut.model_validate(d) for d in rows],
    )


async def find_covering_contract(
    uow: UnitOfWork, customer_id: uuid.UUID, device_id: uuid.UUID | None, on: date
) -> Contract | None:
    """For the tickets domain: the contract under which `customer_id`'s `device_id` is
    serviced on the date `on` (the rule is `repository.COVERING_CONTRACT_SQL`: recorded
    status active, valid on `on`, listing the device or listing no device at all). None means uncontracted: the ticket
    gets the default service level (`catalogue.service.default_service_level`).

    Not scoped by principal: the caller has already resolved the customer and device
    within its own scope."""
    return await repository.find_covering(uow, customer_id, device_id, on)
