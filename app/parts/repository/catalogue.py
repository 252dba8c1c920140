"""The catalogue's SQL: parts and their fits, warehouses, and warehouse ranks (the order in
which a branch looks for stock), with the default ranks computed in the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, exists, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.branches.models import Branch
from app.contracts.models import Contract
from app.core.db import UnitOfWork
from app.customers.models import Customer
from app.customers.repository import like_pattern
from app.parts.models import Part, PartFit, Serial, StockBalance, Warehouse, WarehouseRank


async def flush(uow: UnitOfWork) -> None:
    """Writes now (a unique violation raises IntegrityError here)."""
    await uow.session.flush()


async def add(uow: UnitOfWork, row: Any) -> None:
    uow.session.add(row)
    await uow.session.flush()


# -- Parts


async def get_part(uow: UnitOfWork, part_id: uuid.UUID, lock: bool = False) -> Part | None:
    stmt = select(Part).where(col(Part.id) == part_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def parts_by_ids(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Part]:
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    rows = (await uow.session.execute(select(Part).where(col(Part.id).in_(id_list)))).scalars()
    return {p.id: p for p in rows}


async def part_number_taken(uow: UnitOfWork, number: str, exclude: uuid.UUID | None = None) -> bool:
    stmt = select(col(Part.id)).where(col(Part.number) == number)
    if exclude is not None:
        stmt = stmt.where(col(Part.id) != exclude)
    return (await uow.session.execute(stmt.limit(1))).first() is not None


async def list_parts(
    uow: UnitOfWork,
    *,
    limit: int,
    after: uuid.UUID | None,
    q: str | None = None,
    product_family: str | None = None,
    model: str | None = None,
    lifecycle: str | None = None,
    serialised: bool | None = None,
) -> list[Part]:
    stmt = select(Part)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            col(Part.number).ilike(pattern)
            | col(Part.name).ilike(pattern)
            | col(Part.name_en).ilike(pattern)
        )
    if product_family is not None or model is not None:
        fit = select(PartFit.part_id).where(col(PartFit.part_id) == col(Part.id))
        if product_family is not None:
            fit = fit.where(col(PartFit.product_family) == product_family)
            if model is not None:
                # A fit for the whole family fits every one of its models.
                fit = fit.where(col(PartFit.model).in_((model, "")))
        else:
            fit = fit.where(col(PartFit.model) == model)
        stmt = stmt.where(exists(fit))
    if lifecycle is not None:
        stmt = stmt.where(col(Part.lifecycle) == lifecycle)
    if serialised is not None:
        stmt = stmt.where(col(Part.serialised) == serialised)
    if after is not None:
        stmt = stmt.where(col(Part.id) < after)
    stmt = stmt.order_by(col(Part.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def fits_of(uow: UnitOfWork, part_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[PartFit]]:
    id_list = sorted(set(part_ids))
    out: dict[uuid.UUID, list[PartFit]] = {i: [] for i in id_list}
    if not id_list:
        return out
    stmt = (
        select(PartFit)
        .where(col(PartFit.part_id).in_(id_list))
        .order_by(col(PartFit.product_family), col(PartFit.model))
    )
    for fit in (await uow.session.execute(stmt)).scalars():
        out[fit.part_id].append(fit)
    return out


async def replace_fits(
    uow: UnitOfWork, part_id: uuid.UUID, fits: Sequence[tuple[str, str]]
) -> None:
    await uow.session.execute(delete(PartFit).where(col(PartFit.part_id) == part_id))
    if fits:
        await uow.session.execute(
            insert(PartFit).values(
                [{"part_id": part_id, "product_family": f, "model": m} for f, m in fits]
            )
        )


async def part_fits(uow: UnitOfWork, part_id: uuid.UUID, product_family: str, model: str) -> bool:
    stmt = select(PartFit.part_id).where(
        col(PartFit.part_id) == part_id,
        col(PartFit.product_family) == product_family,
        col(PartFit.model).in_((model, "")),
    )
    return (await uow.session.execute(stmt.limit(1))).first() is not None


async def lock_substitutes(uow: UnitOfWork) -> None:
    """Serialises changes of substitutes: two concurrent changes (A -> B, B -> A) could
    each see no cycle. Catalogue edits are rare, so one lock for all is cheap."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('parts.substitutes', 0))")
    )


_LEADS_BACK = text(
    """
    WITH RECURSIVE chain(id) AS (
        SELECT CAST(:start AS uuid)
        UNION
        SELECT p.substitute_id FROM parts p JOIN chain c ON p.id = c.id
        WHERE p.substitute_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM chain WHERE id = CAST(:part AS uuid))
    """
)


async def substitutes_lead_to(uow: UnitOfWork, start: uuid.UUID, part_id: uuid.UUID) -> bool:
    """Whether following substitutes from `start` (itself included) reaches `part_id`.
    UNION (not UNION ALL) ends the walk on a cycle already stored."""
    result = await uow.session.execute(_LEADS_BACK, {"start": start, "part": part_id})
    return bool(result.scalar_one())


async def part_has_stock(uow: UnitOfWork, part_id: uuid.UUID) -> bool:
    """Whether any balance row or serial exists for the part (even at zero)."""
    balance = select(StockBalance.part_id).where(col(StockBalance.part_id) == part_id)
    serial = select(Serial.id).where(col(Serial.part_id) == part_id)
    stmt = select(exists(balance) | exists(serial))
    return bool((await uow.session.execute(stmt)).scalar_one())


# -- Warehouses


async def get_warehouse(
    uow: UnitOfWork, warehouse_id: uuid.UUID, lock: bool = False
) -> Warehouse | None:
    stmt = select(Warehouse).where(col(Warehouse.id) == warehouse_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def warehouses_by_ids(
    uow: UnitOfWork, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Warehouse]:
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    stmt = select(Warehouse).where(col(Warehouse.id).in_(id_list))
    return {w.id: w for w in (await uow.session.execute(stmt)).scalars()}


async def warehouse_code_taken(uow: UnitOfWork, code: str) -> bool:
    stmt = select(col(Warehouse.id)).where(col(Warehouse.code) == code).limit(1)
    return (await uow.session.execute(stmt)).first() is not None


async def list_warehouses(
    uow: UnitOfWork,
    *,
    limit: int,
    after: uuid.UUID | None,
    kind: str | None = None,
    branch_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> list[Warehouse]:
    stmt = select(Warehouse)
    if kind is not None:
        stmt = stmt.where(col(Warehouse.kind) == kind)
    if branch_id is not None:
        stmt = stmt.where(col(Warehouse.branch_id) == branch_id)
    if contract_id is not None:
        stmt = stmt.where(col(Warehouse.contract_id) == contract_id)
    if active is not None:
        stmt = stmt.where(col(Warehouse.active) == active)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            col(Warehouse.code).ilike(pattern)
            | col(Warehouse.name).ilike(pattern)
            | col(Warehouse.name_en).ilike(pattern)
            | col(Warehouse.address).ilike(pattern)
        )
    if after is not None:
        stmt = stmt.where(col(Warehouse.id) < after)
    stmt = stmt.order_by(col(Warehouse.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def branch_exists(uow: UnitOfWork, branch_id: uuid.UUID) -> bool:
    stmt = select(col(Branch.id)).where(col(Branch.id) == branch_id)
    return (await uow.session.execute(stmt)).first() is not None


async def contract_branch(uow: UnitOfWork, contract_id: uuid.UUID) -> uuid.UUID | None:
    """The branch of the contract's customer; None when there is no such contract."""
    stmt = (
        select(col(Customer.branch_id))
        .join(Contract, col(Contract.customer_id) == col(Customer.id))
        .where(col(Contract.id) == contract_id)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def site_depots(uow: UnitOfWork, contract_id: uuid.UUID) -> list[uuid.UUID]:
    """The contract's active customer-site warehouses, oldest first."""
    stmt = (
        select(col(Warehouse.id))
        .where(
            col(Warehouse.contract_id) == contract_id,
            col(Warehouse.kind) == "customer_site",
            col(Warehouse.active),
        )
        .order_by(col(Warehouse.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


# -- Warehouse ranks

# Inserts go in key order, so that two concurrent fills wait for each other rather
# than deadlock.
# The default rank of warehouse w for branch b: its own branch, then its region, then a
# central warehouse, then any other. Customer-site warehouses get none.
_DEFAULT_RANK = """
    CASE WHEN b.id = w.branch_id THEN 10
         WHEN b.region IS NOT NULL AND b.region = wb.region THEN 20
         WHEN w.kind = 'central' THEN 30
         ELSE 40 END
"""
_DEFAULTS_FROM = """
    FROM branches b
    CROSS JOIN warehouses w
    JOIN branches wb ON wb.id = w.branch_id
    WHERE w.kind <> 'customer_site'
"""
_FILL_UNRANKED = text(
    f"""
    INSERT INTO warehouse_ranks (branch_id, warehouse_id, rank)
    SELECT b.id, w.id, {_DEFAULT_RANK} {_DEFAULTS_FROM}
      AND NOT EXISTS (SELECT 1 FROM warehouse_ranks r WHERE r.branch_id = b.id)
      AND (CAST(:branch AS uuid) IS NULL OR b.id = CAST(:branch AS uuid))
    ORDER BY b.id, w.id
    ON CONFLICT DO NOTHING
    """
)
_RANK_NEW = text(
    f"""
    INSERT INTO warehouse_ranks (branch_id, warehouse_id, rank)
    SELECT b.id, w.id, {_DEFAULT_RANK} {_DEFAULTS_FROM} AND w.id = CAST(:warehouse AS uuid)
    ORDER BY b.id
    ON CONFLICT DO NOTHING
    """
)
_DEFAULT_ORDER = text(
    f"""
    SELECT w.id AS warehouse_id, w.code, w.name, w.kind, w.branch_id, w.active,
           {_DEFAULT_RANK} AS rank
    {_DEFAULTS_FROM} AND b.id = CAST(:branch AS uuid)
    ORDER BY rank, w.id
    """
)
_STORED_ORDER = text(
    """
    SELECT w.id AS warehouse_id, w.code, w.name, w.kind, w.branch_id, w.active, r.rank
    FROM warehouse_ranks r JOIN warehouses w ON w.id = r.warehouse_id
    WHERE r.branch_id = CAST(:branch AS uuid)
    ORDER BY r.rank, w.id
    """
)
_SEARCH_ORDER = text(
    """
    SELECT w.id FROM warehouse_ranks r JOIN warehouses w ON w.id = r.warehouse_id
    WHERE r.branch_id = CAST(:branch AS uuid) AND w.active AND w.kind <> 'customer_site'
    ORDER BY r.rank, w.id
    """
)


async def lock_ranks(uow: UnitOfWork, branch_id: uuid.UUID) -> None:
    """Serialises the writers of one branch's ranks (a replacement, its first defaults)."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"warehouse_ranks:{branch_id}"},
    )


async def has_ranks(uow: UnitOfWork, branch_id: uuid.UUID) -> bool:
    stmt = select(WarehouseRank.branch_id).where(col(WarehouseRank.branch_id) == branch_id)
    return (await uow.session.execute(stmt.limit(1))).first() is not None


async def fill_default_ranks(uow: UnitOfWork, branch_id: uuid.UUID | None = None) -> None:
    """Default ranks for every warehouse, for each branch (or only `branch_id`) that has
    no rank at all yet."""
    await uow.session.execute(_FILL_UNRANKED, {"branch": branch_id})


async def rank_new_warehouse(uow: UnitOfWork, warehouse_id: uuid.UUID) -> None:
    """The default rank of a new warehouse for every branch that lacks one for it."""
    await uow.session.execute(_RANK_NEW, {"warehouse": warehouse_id})


async def stored_order(uow: UnitOfWork, branch_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await uow.session.execute(_STORED_ORDER, {"branch": branch_id})
    return [dict(r) for r in rows.mappings()]


async def default_order(uow: UnitOfWork, branch_id: uuid.UUID) -> list[dict[str, Any]]:
    """The order a branch without ranks would get, computed, not stored."""
    rows = await uow.session.execute(_DEFAULT_ORDER, {"branch": branch_id})
    return [dict(r) for r in rows.mappings()]


async def search_order(uow: UnitOfWork, branch_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await uow.session.execute(_SEARCH_ORDER, {"branch": branch_id})
    return list(rows.scalars())


async def replace_ranks(uow: UnitOfWork, branch_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    await uow.session.execute(
        delete(WarehouseRank).where(col(WarehouseRank.branch_id) == branch_id)
    )
    await uow.session.execute(
        insert(WarehouseRank).values(
            [{"branch_id": branch_id, "warehouse_id": w, "rank": i} for i, w in enumerate(ids, 1)]
        )
    )
