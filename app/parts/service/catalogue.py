"""Catalogue rules: parts (备件目录) and warehouses (仓库), and the order in which a branch
looks for stock.

- A part number is unique. A discontinued part names a substitute or an alternative;
  a substitute exists, is not the part itself and never leads back to it. Whether a
  part is serialised is fixed once any stock or serial of it exists.
- Fits name active product families; a model of '' fits the whole family.
- Warehouses are visible to every key (stock must be found across branches); a
  branch-scoped key writes only its own branch's. A customer-site warehouse (本地备件库)
  belongs to a contract of a customer of its branch and serves that contract only.
- Ranks are data: a new warehouse gets a default rank for every branch (same branch
  10, same region 20, central 30, other 40), and a branch may replace its order.

Other areas call `get_part`, `part_in_body`, `get_warehouse`, `warehouse_in_body`,
`nearest_warehouses`, `part_fits` and `substitute_of`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.branches import service as branches
from app.catalogue import service as catalogue
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.parts.models import Part, Warehouse
from app.parts.repository import catalogue as repo
from app.parts.schemas.catalogue import (
    PartCreate,
    PartFitIn,
    PartFitOut,
    PartOut,
    PartRef,
    PartUpdate,
    WarehouseCreate,
    WarehouseOrderOut,
    WarehouseRankOut,
    WarehouseUpdate,
)

_PART_NOT_NULL = {"number", "name", "unit_cost", "currency", "serialised", "lifecycle", "fits"}
_WAREHOUSE_NOT_NULL = {"name", "address", "active"}
_WAREHOUSE_FIXED = ("kind", "branch_id", "contract_id")
SITE = "customer_site"


# -- Parts: what other areas call


async def get_part(uow: UnitOfWork, part_id: uuid.UUID) -> Part:
    return await _part(uow, part_id)


async def part_in_body(uow: UnitOfWork, part_id: uuid.UUID, field: str = "part_id") -> Part:
    """The part a request body names: 422 naming `field` when there is none."""
    part = await repo.get_part(uow, part_id)
    if part is None:
        raise Unprocessable(f"{field} does not name a part.", field=field)
    return part


async def part_fits(uow: UnitOfWork, part_id: uuid.UUID, product_family: str, model: str) -> bool:
    """Whether the part fits a device of this family and model."""
    return await repo.part_fits(uow, part_id, product_family, model)


async def substitute_of(uow: UnitOfWork, part: Part) -> Part | None:
    if part.substitute_id is None:
        return None
    return await repo.get_part(uow, part.substitute_id)


# -- Parts over HTTP


async def _part(uow: UnitOfWork, part_id: uuid.UUID, lock: bool = False) -> Part:
    part = await repo.get_part(uow, part_id, lock=lock)
    if part is None:
        raise NotFound("Part not found.")
    return part


def _duplicate_number(number: str) -> Conflict:
    return Conflict(f"A part with number '{number}' exists.", field="number")


async def _fits(uow: UnitOfWork, fits: Iterable[PartFitIn]) -> list[tuple[str, str]]:
    """The fits, repeated ones merged (first order kept), each family active."""
    pairs = list(dict.fromkeys((f.product_family, f.model) for f in fits))
    checked: set[str] = set()
    for i, (family, _) in enumerate(pairs):
        if family in checked:
            continue
        if await catalogue.active_product_family(uow, family) is None:
            raise Unprocessable(
                f"fits[{i}].product_family '{family}' does not name an active product family.",
                errors=[{
                    "loc": ["body", "fits", i, "product_family"],
                    "msg": "Not an active product family.",
                    "type": "value_error",
                }],
                field="fits",
            )  # fmt: skip
        checked.add(family)
    return pairs


async def _check_substitute(
    uow: UnitOfWork, part_id: uuid.UUID | None, substitute_id: uuid.UUID
) -> None:
    if substitute_id == part_id:
        raise Unprocessable("A part cannot be its own substitute.", field="substitute_id")
    if await repo.get_part(uow, substitute_id) is None:
        raise Unprocessable("substitute_id does not name a part.", field="substitute_id")
    if part_id is not None and await repo.substitutes_lead_to(uow, substitute_id, part_id):
        raise Unprocessable(
            "substitute_id would make a cycle: its substitutes lead back to this part.",
            field="substitute_id",
        )


def _check_lifecycle(lifecycle: str, substitute_id: uuid.UUID | None, alt: str | None) -> None:
    if lifecycle == "discontinued" and substitute_id is None and alt is None:
        raise Unprocessable(
            "A discontinued part needs substitute_id or alternative.", field="lifecycle"
        )


async def _write_part(uow: UnitOfWork, part: Part, insert: bool = False) -> None:
    try:
        if insert:
            await repo.add(uow, part)
        else:
            await repo.flush(uow)
    except IntegrityError as exc:  # a concurrent write took the number
        raise _duplicate_number(part.number) from exc


async def part_outs(uow: UnitOfWork, parts: Sequence[Part]) -> list[PartOut]:
    """The parts as answered: with their fits and their substitute, in two queries."""
    fits = await repo.fits_of(uow, (p.id for p in parts))
    subs = await repo.parts_by_ids(uow, (p.substitute_id for p in parts if p.substitute_id))
    out = []
    for p in parts:
        sub = subs.get(p.substitute_id) if p.substitute_id else None
        out.append(
            PartOut(
                **p.model_dump(),
                fits=[PartFitOut.model_validate(f) for f in fits.get(p.id, [])],
                substitute=PartRef.model_validate(sub) if sub else None,
            )
        )
    return out


async def part_out(uow: UnitOfWork, part: Part) -> PartOut:
    return (await part_outs(uow, [part]))[0]


async def create_part(uow: UnitOfWork, data: PartCreate) -> tuple[Part, PartOut]:
    _check_lifecycle(data.lifecycle, data.substitute_id, data.alternative)
    if data.substitute_id is not None:
        # A new part is nobody's substitute yet: no cycle can go through it.
        await _check_substitute(uow, None, data.substitute_id)
    fits = await _fits(uow, data.fits)
    if await repo.part_number_taken(uow, data.number):
        raise _duplicate_number(data.number)
    now = get_clock().now()
    part = Part(
        **data.model_dump(exclude={"fits", "currency"}),
        currency=data.currency or get_settings().parts_currency,
        created_at=now,
        updated_at=now,
    )
    await _write_part(uow, part, insert=True)
    await repo.replace_fits(uow, part.id, fits)
    return part, await part_out(uow, part)


async def read_part(uow: UnitOfWork, part_id: uuid.UUID) -> tuple[Part, PartOut]:
    part = await _part(uow, part_id)
    return part, await part_out(uow, part)


async def list_parts(
    uow: UnitOfWork,
    page: PageParams,
    *,
    q: str | None = None,
    product_family: str | None = None,
    model: str | None = None,
    lifecycle: str | None = None,
    serialised: bool | None = None,
) -> Page[PartOut]:
    rows = await repo.list_parts(
        uow,
        limit=page.limit,
        after=page.after,
        q=q,
        product_family=product_family,
        model=model,
        lifecycle=lifecycle,
        serialised=serialised,
    )
    found = make_page(rows, page.limit)
    return Page[PartOut](items=await part_outs(uow, found.items), next_cursor=found.next_cursor)


async def _check_part_changes(uow: UnitOfWork, part: Part, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        if value is None and field in _PART_NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    number: str = changes.get("number") or part.number
    renamed = number != part.number
    if renamed and await repo.part_number_taken(uow, number, exclude=part.id):
        raise _duplicate_number(number)
    serialised = changes.get("serialised")
    flipped = serialised is not None and serialised != part.serialised
    if flipped and await repo.part_has_stock(uow, part.id):
        raise Conflict(
            "serialised cannot change: the part has stock or serials.", field="serialised"
        )
    substitute_id = changes.get("substitute_id")
    if substitute_id is not None and substitute_id != part.substitute_id:
        await _check_substitute(uow, part.id, substitute_id)
    _check_lifecycle(
        changes.get("lifecycle", part.lifecycle),
        changes.get("substitute_id", part.substitute_id),
        changes.get("alternative", part.alternative),
    )


async def update_part(
    uow: UnitOfWork, part_id: uuid.UUID, data: PartUpdate, if_match: str | None
) -> tuple[Part, PartOut]:
    if data.substitute_id is not None:
        # Before the row lock: the foreign-key check of the new substitute waits for
        # that part's row, so a writer holding a row lock must not wait for this one.
        await repo.lock_substitutes(uow)
    part = await _part(uow, part_id, lock=True)
    check_if_match(if_match, part.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"fits"})
    if "fits" in data.model_fields_set:
        changes["fits"] = data.fits
    await _check_part_changes(uow, part, changes)
    fits = changes.pop("fits", None)
    if fits is not None:
        await repo.replace_fits(uow, part.id, await _fits(uow, fits))
    for field, value in changes.items():
        setattr(part, field, value)
    part.version += 1
    part.updated_at = get_clock().now()
    await _write_part(uow, part)
    return part, await part_out(uow, part)


# -- Warehouses: what other areas call


async def get_warehouse(uow: UnitOfWork, warehouse_id: uuid.UUID) -> Warehouse:
    warehouse = await repo.get_warehouse(uow, warehouse_id)
    if warehouse is None:
        raise NotFound("Warehouse not found.")
    return warehouse


async def warehouse_in_body(
    uow: UnitOfWork,
    principal: Principal,
    warehouse_id: uuid.UUID,
    field: str = "warehouse_id",
    write: bool = False,
) -> Warehouse:
    """The active warehouse a request body names, else 422 naming `field`. With `write`
    (moving stock in or out of it), a branch-scoped key may name only its own branch's
    warehouses: another branch's is answered as if unknown."""
    warehouse = await repo.get_warehouse(uow, warehouse_id)
    if (
        warehouse is None
        or not warehouse.active
        or (write and not principal.sees_branch(warehouse.branch_id))
    ):
        raise Unprocessable(f"{field} does not name an active warehouse.", field=field)
    return warehouse


async def nearest_warehouses(
    uow: UnitOfWork, branch_id: uuid.UUID, contract_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Where a request from `branch_id` (under `contract_id`) looks for stock, nearest
    first: the contract's own customer-site depots, then the branch's ranks. Never an
    inactive warehouse, never another contract's depot. A branch that has no ranks yet
    (made after the warehouses) gets its defaults stored first."""
    order = await repo.site_depots(uow, contract_id) if contract_id is not None else []
    if not await repo.has_ranks(uow, branch_id):
        await repo.lock_ranks(uow, branch_id)
        await repo.fill_default_ranks(uow, branch_id)
    seen = set(order)
    order += [w for w in await repo.search_order(uow, branch_id) if w not in seen]
    return order


# -- Warehouses over HTTP


def _unknown_branch() -> Unprocessable:
    return Unprocessable("branch_id does not name a branch.", field="branch_id")


async def _check_contract(uow: UnitOfWork, principal: Principal, data: WarehouseCreate) -> None:
    if data.kind != SITE:
        if data.contract_id is not None:
            raise Unprocessable(
                "Only a customer_site warehouse has a contract_id.", field="contract_id"
            )
        return
    if data.contract_id is None:
        raise Unprocessable("A customer_site warehouse needs contract_id.", field="contract_id")
    branch_id = await repo.contract_branch(uow, data.contract_id)
    if branch_id is None or not principal.sees_branch(branch_id):
        raise Unprocessable("contract_id does not name a contract.", field="contract_id")
    if branch_id != data.branch_id:
        raise Unprocessable(
            "The contract's customer belongs to another branch than branch_id.",
            field="contract_id",
        )


def _duplicate_code(code: str) -> Conflict:
    return Conflict(f"A warehouse with code '{code}' exists.", field="code")


async def create_warehouse(
    uow: UnitOfWork, principal: Principal, data: WarehouseCreate
) -> Warehouse:
    if not principal.sees_branch(data.branch_id) or not await repo.branch_exists(
        uow, data.branch_id
    ):
        raise _unknown_branch()
    await _check_contract(uow, principal, data)
    if await repo.warehouse_code_taken(uow, data.code):
        raise _duplicate_code(data.code)
    now = get_clock().now()
    warehouse = Warehouse(**data.model_dump(), created_at=now, updated_at=now)
    try:
        await repo.add(uow, warehouse)
    except IntegrityError as exc:  # a concurrent create took the code
        raise _duplicate_code(data.code) from exc
    if warehouse.kind != SITE:
        # Branches never ranked get every warehouse's default (this one's included), so
        # that their first ranks are not this warehouse alone; the others get this one.
        await repo.fill_default_ranks(uow)
        await repo.rank_new_warehouse(uow, warehouse.id)
    return warehouse


async def list_warehouses(
    uow: UnitOfWork,
    page: PageParams,
    *,
    kind: str | None = None,
    branch_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> Page[Warehouse]:
    rows = await repo.list_warehouses(
        uow,
        limit=page.limit,
        after=page.after,
        kind=kind,
        branch_id=branch_id,
        contract_id=contract_id,
        active=active,
        q=q,
    )
    return make_page(rows, page.limit)


async def update_warehouse(
    uow: UnitOfWork,
    principal: Principal,
    warehouse_id: uuid.UUID,
    data: WarehouseUpdate,
    if_match: str | None,
) -> Warehouse:
    warehouse = await repo.get_warehouse(uow, warehouse_id, lock=True)
    # Another branch's warehouse is readable, but not this key's to change.
    if warehouse is None or not principal.sees_branch(warehouse.branch_id):
        raise NotFound("Warehouse not found.")
    check_if_match(if_match, warehouse.version)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field in _WAREHOUSE_FIXED:
        if field in changes and changes.pop(field) != getattr(warehouse, field):
            raise Unprocessable(f"{field} of a warehouse cannot change.", field=field)
    for field, value in changes.items():
        if value is None and field in _WAREHOUSE_NOT_NULL:
            raise Unprocessable(f"{field} cannot be null.", field=field)
    for field, value in changes.items():
        setattr(warehouse, field, value)
    warehouse.version += 1
    warehouse.updated_at = get_clock().now()
    await repo.flush(uow)
    return warehouse


# -- The order in which a branch looks for stock


async def warehouse_order(
    uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID
) -> WarehouseOrderOut:
    """The branch's ranks; for a branch never ranked, the defaults it would get."""
    await branches.get(uow, principal, branch_id)
    rows = await repo.stored_order(uow, branch_id) or await repo.default_order(uow, branch_id)
    return WarehouseOrderOut(branch_id=branch_id, items=[WarehouseRankOut(**r) for r in rows])


async def set_warehouse_order(
    uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> WarehouseOrderOut:
    await branches.get(uow, principal, branch_id)
    found = await repo.warehouses_by_ids(uow, ids)
    for i, wid in enumerate(ids):
        warehouse = found.get(wid)
        if warehouse is None or not warehouse.active or warehouse.kind == SITE:
            raise Unprocessable(
                f"warehouse_ids[{i}] does not name an active warehouse other than a "
                "customer-site one.",
                errors=[{
                    "loc": ["body", "warehouse_ids", i],
                    "msg": "Not an active warehouse other than a customer-site one.",
                    "type": "value_error",
                }],
                field="warehouse_ids",
            )  # fmt: skip
    await repo.lock_ranks(uow, branch_id)
    await repo.replace_ranks(uow, branch_id, ids)
    return await warehouse_order(uow, principal, branch_id)
