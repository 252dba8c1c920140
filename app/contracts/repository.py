"""Contract queries, scoped by the principal's branch through the customer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import delete, or_, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.contracts.models import Contract, ContractDevice
from app.core.db import UnitOfWork
from app.core.security import Principal
from app.customers.models import Customer
from app.devices.models import Device


def _scoped(principal: Principal) -> Any:
    return principal.scope(
        select(Contract).join(Customer, col(Customer.id) == col(Contract.customer_id)),
        Customer.branch_id,
    )


async def get_contract(
    uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID, lock: bool = False
) -> Contract | None:
    stmt = _scoped(principal).where(col(Contract.id) == contract_id)
    if lock:
        stmt = stmt.with_for_update(of=Contract)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def add(uow: UnitOfWork, contract: Contract) -> None:
    """Inserts `contract` now (a unique violation raises IntegrityError here)."""
    uow.session.add(contract)
    await uow.session.flush()


async def save(uow: UnitOfWork) -> None:
    """Writes the changes made to loaded rows now."""
    await uow.session.flush()


async def number_taken(uow: UnitOfWork, number: str, exclude: uuid.UUID | None = None) -> bool:
    stmt = select(col(Contract.id)).where(col(Contract.number) == number)
    if exclude is not None:
        stmt = stmt.where(col(Contract.id) != exclude)
    return (await uow.session.execute(stmt)).first() is not None


async def list_contracts(
    uow: UnitOfWork,
    principal: Principal,
    *,
    limit: int,
    after: uuid.UUID | None,
    today: date,
    customer_id: uuid.UUID | None = None,
    status: str | None = None,
    service_level: str | None = None,
    number: str | None = None,
) -> list[Contract]:
    stmt = _scoped(principal)
    if customer_id is not None:
        stmt = stmt.where(col(Contract.customer_id) == customer_id)
    if service_level is not None:
        stmt = stmt.where(col(Contract.service_level) == service_level)
    if number is not None:
        stmt = stmt.where(col(Contract.number) == number)
    # Filter on the effective status, the one the API shows.
    if status == "expired":
        stmt = stmt.where(or_(col(Contract.status) == "expired", col(Contract.ends_on) < today))
    elif status is not None:
        stmt = stmt.where(col(Contract.status) == status, col(Contract.ends_on) >= today)
    if after is not None:
        stmt = stmt.where(col(Contract.id) < after)
    stmt = stmt.order_by(col(Contract.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def covered_devices(uow: UnitOfWork, contract_id: uuid.UUID) -> list[Device]:
    stmt = (
        select(Device)
        .join(ContractDevice, col(ContractDevice.device_id) == col(Device.id))
        .where(col(ContractDevice.contract_id) == contract_id)
        .order_by(col(Device.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def replace_covered(
    uow: UnitOfWork, contract_id: uuid.UUID, device_ids: list[uuid.UUID]
) -> None:
    await uow.session.execute(
        delete(ContractDevice).where(col(ContractDevice.contract_id) == contract_id)
    )
    if device_ids:
        await uow.session.execute(
            insert(ContractDevice).values(
                [{"contract_id": contract_id, "device_id": d} for d in device_ids]
            )
        )


# The rule of coverage, in one place: the ticket domain embeds this same subquery in
# its one-round-trip creation check. A contract covers a device listed on it; a
# contract that lists no device covers all of the customer's devices (and tickets
# without a device). Only recorded-active contracts valid on :today count; a
# device-specific contract beats a customer-wide one, then the one ending last wins.
COVERING_CONTRACT_SQL = """
    SELECT k.id, k.service_level
    FROM contracts k
    WHERE k.customer_id = :customer_id AND k.status = 'active'
      AND k.starts_on <= :today AND k.ends_on >= :today
      AND (EXISTS (SELECT 1 FROM contract_devices cd
                   WHERE cd.contract_id = k.id AND cd.device_id = :device_id)
           OR NOT EXISTS (SELECT 1 FROM contract_devices cd WHERE cd.contract_id = k.id))
    ORDER BY NOT EXISTS (SELECT 1 FROM contract_devices cd
                         WHERE cd.contract_id = k.id AND cd.device_id = :device_id),
             k.ends_on DESC, k.id DESC
    LIMIT 1
"""


async def find_covering(
    uow: UnitOfWork, customer_id: uuid.UUID, device_id: uuid.UUID | None, on: date
) -> Contract | None:
    row = (
        await uow.session.execute(
            text(COVERING_CONTRACT_SQL),
            {"customer_id": customer_id, "device_id": device_id, "today": on},
        )
    ).first()
    return await uow.session.get(Contract, row[0]) if row else None
