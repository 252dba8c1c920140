"""The stock ledger's SQL: balances (locked in key order), ledger rows, serials and their
history, stock as of an instant, and the recomputation `supportline stock-check` runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.parts.models import (
    Loan,
    Part,
    Reservation,
    Rma,
    Serial,
    StockBalance,
    StockMovement,
    StockTransfer,
    Warehouse,
)

Key = tuple[uuid.UUID, uuid.UUID]  # (part_id, warehouse_id)


async def lock_balances(uow: UnitOfWork, keys: Iterable[Key]) -> dict[Key, StockBalance]:
    """The balance rows of `keys`, created when missing and locked FOR UPDATE in (part,
    warehouse) order: every writer takes them in this one order, so two postings over
    the same rows wait for each other and never deadlock. A lock is waited for, never
    skipped (no SKIP LOCKED, no NOWAIT)."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    await uow.session.execute(
        insert(StockBalance)
        .values([{"part_id": p, "warehouse_id": w} for p, w in ordered])
        .on_conflict_do_nothing(index_elements=["part_id", "warehouse_id"])
    )
    stmt = (
        select(StockBalance)
        .where(tuple_(col(StockBalance.part_id), col(StockBalance.warehouse_id)).in_(ordered))
        .order_by(col(StockBalance.part_id), col(StockBalance.warehouse_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = (await uow.session.execute(stmt)).scalars()
    return {(b.part_id, b.warehouse_id): b for b in rows}


async def balance(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID
) -> StockBalance | None:
    return await uow.session.get(StockBalance, (part_id, warehouse_id))


async def parts_costs(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Part]:
    id_list = sorted(set(ids))
    rows = (await uow.session.execute(select(Part).where(col(Part.id).in_(id_list)))).scalars()
    return {p.id: p for p in rows}


async def lock_serials(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Serial]:
    """Serial rows locked in id order (after the balances: the one lock order)."""
    id_list = sorted(set(ids))
    if not id_list:
        return {}
    stmt = (
        select(Serial)
        .where(col(Serial.id).in_(id_list))
        .order_by(col(Serial.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {s.id: s for s in (await uow.session.execute(stmt)).scalars()}


async def serial_by_number(uow: UnitOfWork, part_id: uuid.UUID, serial: str) -> Serial | None:
    stmt = select(Serial).where(col(Serial.part_id) == part_id, col(Serial.serial) == serial)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def serials_by_number(uow: UnitOfWork, serial: str) -> list[Serial]:
    stmt = select(Serial).where(col(Serial.serial) == serial).order_by(col(Serial.id))
    return list((await uow.session.execute(stmt)).scalars())


async def get_serial(uow: UnitOfWork, serial_id: uuid.UUID) -> Serial | None:
    return await uow.session.get(Serial, serial_id)


def add_serial(uow: UnitOfWork, serial: Serial) -> None:
    uow.session.add(serial)


def add_movements(uow: UnitOfWork, rows: Sequence[StockMovement]) -> None:
    uow.session.add_all(rows)


async def flush(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def get_movement(uow: UnitOfWork, movement_id: uuid.UUID) -> StockMovement | None:
    return await uow.session.get(StockMovement, movement_id)


async def movements_of_batch(uow: UnitOfWork, batch_id: uuid.UUID) -> list[StockMovement]:
    stmt = (
        select(StockMovement)
        .where(col(StockMovement.batch_id) == batch_id)
        .order_by(col(StockMovement.seq))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def reversed_ids(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    stmt = select(col(StockMovement.reverses_id)).where(
        col(StockMovement.reverses_id).in_(list(ids))
    )
    return {r for r in (await uow.session.execute(stmt)).scalars() if r is not None}


async def list_movements(
    uow: UnitOfWork,
    *,
    limit: int,
    after_seq: int | None,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
    serial_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StockMovement]:
    """Newest first by `seq` (keyset paging on it)."""
    stmt = select(StockMovement)
    for column, value in (
        (StockMovement.part_id, part_id),
        (StockMovement.warehouse_id, warehouse_id),
        (StockMovement.serial_id, serial_id),
        (StockMovement.ticket_id, ticket_id),
        (StockMovement.kind, kind),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if since is not None:
        stmt = stmt.where(col(StockMovement.at) >= since)
    if until is not None:
        stmt = stmt.where(col(StockMovement.at) < until)
    if after_seq is not None:
        stmt = stmt.where(col(StockMovement.seq) < after_seq)
    stmt = stmt.order_by(col(StockMovement.seq).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def serial_history(uow: UnitOfWork, serial_id: uuid.UUID) -> list[StockMovement]:
    stmt = (
        select(StockMovement)
        .where(col(StockMovement.serial_id) == serial_id)
        .order_by(col(StockMovement.at), col(StockMovement.seq))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def list_balances(
    uow: UnitOfWork,
    *,
    limit: int,
    after: Key | None,
    part_id: uuid.UUID | None = None,
    warehouse_id: uuid.UUID | None = None,
    branch_id: uuid.UUID | None = None,
    below_reorder: bool | None = None,
    available_at_least: int | None = None,
) -> list[StockBalance]:
    stmt = select(StockBalance)
    if part_id is not None:
        stmt = stmt.where(col(StockBalance.part_id) == part_id)
    if warehouse_id is not None:
        stmt = stmt.where(col(StockBalance.warehouse_id) == warehouse_id)
    if branch_id is not None:
        stmt = stmt.join(Warehouse, col(Warehouse.id) == col(StockBalance.warehouse_id)).where(
            col(Warehouse.branch_id) == branch_id
        )
    if below_reorder is not None:
        stmt = stmt.where(col(StockBalance.below_reorder) == below_reorder)
    if available_at_least is not None:
        stmt = stmt.where(
            col(StockBalance.on_hand) - col(StockBalance.reserved) >= available_at_least
        )
    if after is not None:
        stmt = stmt.where(
            tuple_(col(StockBalance.part_id), col(StockBalance.warehouse_id)) > tuple_(*after)
        )
    stmt = stmt.order_by(col(StockBalance.part_id), col(StockBalance.warehouse_id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# Stock of one part as of an instant: the sums of its ledger rows up to then, per
# warehouse and bucket (the index on (part_id, warehouse_id, at) serves it).
_AS_OF = text(
    """
    SELECT warehouse_id,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'good'), 0)::int AS on_hand,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'defective'), 0)::int AS defective,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'in_transit'), 0)::int AS in_transit,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'loaner'), 0)::int AS loaners
    FROM stock_movements
    WHERE part_id = :part_id AND at <= :at
      AND (CAST(:warehouse_id AS uuid) IS NULL OR warehouse_id = CAST(:warehouse_id AS uuid))
    GROUP BY warehouse_id
    ORDER BY warehouse_id
    """
)


async def stock_as_of(
    uow: UnitOfWork, part_id: uuid.UUID, at: datetime, warehouse_id: uuid.UUID | None
) -> Sequence[Any]:
    params = {"part_id": part_id, "at": at, "warehouse_id": warehouse_id}
    return (await uow.session.execute(_AS_OF, params)).all()


# Every balance against its ledger and its active reservations, in one pass over each
# table: the differences only.
STOCK_CHECK_SQL = """
WITH ledger AS (
    SELECT part_id, warehouse_id,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'good'), 0) AS on_hand,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'defective'), 0) AS defective,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'in_transit'), 0) AS in_transit,
           COALESCE(SUM(quantity) FILTER (WHERE bucket = 'loaner'), 0) AS loaners
    FROM stock_movements GROUP BY part_id, warehouse_id
), held AS (
    SELECT part_id, warehouse_id, SUM(quantity) AS reserved
    FROM part_reservations WHERE state = 'active' GROUP BY part_id, warehouse_id
), expected AS (
    SELECT COALESCE(l.part_id, h.part_id) AS part_id,
           COALESCE(l.warehouse_id, h.warehouse_id) AS warehouse_id,
           COALESCE(l.on_hand, 0) AS on_hand, COALESCE(l.defective, 0) AS defective,
           COALESCE(l.in_transit, 0) AS in_transit, COALESCE(l.loaners, 0) AS loaners,
           COALESCE(h.reserved, 0) AS reserved
    FROM ledger l FULL JOIN held h USING (part_id, warehouse_id)
)
SELECT COALESCE(e.part_id, b.part_id) AS part_id,
       COALESCE(e.warehouse_id, b.warehouse_id) AS warehouse_id,
       COALESCE(e.on_hand, 0) AS ledger_on_hand, b.on_hand AS balance_on_hand,
       COALESCE(e.reserved, 0) AS ledger_reserved, b.reserved AS balance_reserved,
       COALESCE(e.defective, 0) AS ledger_defective, b.defective AS balance_defective,
       COALESCE(e.in_transit, 0) AS ledger_in_transit, b.in_transit AS balance_in_transit,
       COALESCE(e.loaners, 0) AS ledger_loaners, b.loaners AS balance_loaners
FROM expected e FULL JOIN stock_balances b USING (part_id, warehouse_id)
WHERE COALESCE(e.on_hand, 0) IS DISTINCT FROM COALESCE(b.on_hand, 0)
   OR COALESCE(e.reserved, 0) IS DISTINCT FROM COALESCE(b.reserved, 0)
   OR COALESCE(e.defective, 0) IS DISTINCT FROM COALESCE(b.defective, 0)
   OR COALESCE(e.in_transit, 0) IS DISTINCT FROM COALESCE(b.in_transit, 0)
   OR COALESCE(e.loaners, 0) IS DISTINCT FROM COALESCE(b.loaners, 0)
ORDER BY 1, 2
"""

# A serial's place against its last ledger row (a serial with rows must be where its
# last row put it).
SERIAL_CHECK_SQL = """
SELECT s.id, s.serial, s.place, s.warehouse_id, m.serial_place, m.serial_warehouse_id
FROM part_serials s
JOIN LATERAL (
    SELECT serial_place, serial_warehouse_id FROM stock_movements
    WHERE serial_id = s.id ORDER BY seq DESC LIMIT 1
) m ON true
WHERE s.place IS DISTINCT FROM m.serial_place
   OR s.warehouse_id IS DISTINCT FROM m.serial_warehouse_id
ORDER BY s.id
"""


# --- transfers --------------------------------------------------------------------------


def add_transfer(uow: UnitOfWork, transfer: StockTransfer) -> None:
    uow.session.add(transfer)


async def lock_transfer(uow: UnitOfWork, transfer_id: uuid.UUID) -> StockTransfer | None:
    stmt = (
        select(StockTransfer)
        .where(col(StockTransfer.id) == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def get_transfer(uow: UnitOfWork, transfer_id: uuid.UUID) -> StockTransfer | None:
    return await uow.session.get(StockTransfer, transfer_id)


async def list_transfers(
    uow: UnitOfWork,
    *,
    limit: int,
    after: uuid.UUID | None,
    state: str | None,
    part_id: uuid.UUID | None,
    warehouse_id: uuid.UUID | None,
) -> list[StockTransfer]:
    stmt = select(StockTransfer)
    if state is not None:
        stmt = stmt.where(col(StockTransfer.state) == state)
    if part_id is not None:
        stmt = stmt.where(col(StockTransfer.part_id) == part_id)
    if warehouse_id is not None:
        stmt = stmt.where(
            (col(StockTransfer.to_warehouse_id) == warehouse_id)
            | (col(StockTransfer.from_warehouse_id) == warehouse_id)
        )
    if after is not None:
        stmt = stmt.where(col(StockTransfer.id) < after)
    stmt = stmt.order_by(col(StockTransfer.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# --- serials: where they were, whether they are held ------------------------------------


async def serial_row_before(
    uow: UnitOfWork, serial_id: uuid.UUID, seq: int
) -> StockMovement | None:
    """The serial's ledger row just before row `seq` (where a reversal puts it back)."""
    stmt = (
        select(StockMovement)
        .where(
            col(StockMovement.serial_id) == serial_id,
            col(StockMovement.seq) < seq,
            col(StockMovement.serial_place).is_not(None),
        )
        .order_by(col(StockMovement.seq).desc())
        .limit(1)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def serial_row_at(
    uow: UnitOfWork, serial_id: uuid.UUID, at: datetime
) -> StockMovement | None:
    """The serial's last ledger row at or before `at`: where it was then."""
    stmt = (
        select(StockMovement)
        .where(
            col(StockMovement.serial_id) == serial_id,
            col(StockMovement.at) <= at,
            col(StockMovement.serial_place).is_not(None),
        )
        .order_by(col(StockMovement.at).desc(), col(StockMovement.seq).desc())
        .limit(1)
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def reserved_serials(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    id_list = list(ids)
    if not id_list:
        return set()
    stmt = select(col(Reservation.serial_id)).where(
        col(Reservation.serial_id).in_(id_list), col(Reservation.state) == "active"
    )
    return {r for r in (await uow.session.execute(stmt)).scalars() if r is not None}


async def part_balances(uow: UnitOfWork, part_id: uuid.UUID) -> list[StockBalance]:
    stmt = (
        select(StockBalance)
        .where(col(StockBalance.part_id) == part_id)
        .order_by(col(StockBalance.warehouse_id))
    )
    return list((await uow.session.execute(stmt)).scalars())


async def lock_balance_levels(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID
) -> StockBalance:
    return (await lock_balances(uow, [(part_id, warehouse_id)]))[(part_id, warehouse_id)]


async def stock_differences(uow: UnitOfWork) -> list[Any]:
    return list((await uow.session.execute(text(STOCK_CHECK_SQL))).mappings())


async def serial_differences(uow: UnitOfWork) -> list[Any]:
    return list((await uow.session.execute(text(SERIAL_CHECK_SQL))).mappings())


async def ledger_size(uow: UnitOfWork) -> tuple[int, int]:
    """(ledger rows, balance rows): estimates from the planner's statistics would do for
    a report, but the check is exact anyway."""
    rows = await uow.session.execute(text(
        "SELECT (SELECT count(*) FROM stock_movements), (SELECT count(*) FROM stock_balances)"
    ))  # fmt: skip
    movements, balances = rows.one()
    return int(movements), int(balances)


# The stock of one part in every warehouse, as the API answers it (PartStockOut), built
# by PostgreSQL in one statement: the hot read of a part request's desk (100 warehouses
# a part) costs no ORM rows and no models. Timestamps as the API writes them (UTC, `Z`,
# six digits of fraction, none when zero).
_API_TS = """(to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN date_part('microseconds', {c})::int % 1000000 = 0 THEN ''
            ELSE to_char({c} AT TIME ZONE 'UTC', '.US') END || 'Z')"""
_PART_STOCK_JSON = text(
    f"""
    SELECT json_build_object(
        'part_id', p.id,
        'as_of', NULL,
        'warehouses', COALESCE(json_agg(json_build_object(
            'part_id', b.part_id, 'warehouse_id', b.warehouse_id, 'on_hand', b.on_hand,
            'reserved', b.reserved, 'available', b.on_hand - b.reserved,
            'defective', b.defective, 'in_transit', b.in_transit, 'loaners', b.loaners,
            'reorder_point', b.reorder_point, 'target_level', b.target_level,
            'below_reorder', b.below_reorder, 'updated_at', {_API_TS.format(c="b.updated_at")}
        ) ORDER BY b.warehouse_id) FILTER (WHERE b.part_id IS NOT NULL), '[]'),
        'totals', json_build_object(
            'on_hand', COALESCE(sum(b.on_hand), 0), 'reserved', COALESCE(sum(b.reserved), 0),
            'available', COALESCE(sum(b.on_hand - b.reserved), 0),
            'defective', COALESCE(sum(b.defective), 0),
            'in_transit', COALESCE(sum(b.in_transit), 0),
            'loaners', COALESCE(sum(b.loaners), 0))
    )::text
    FROM parts p
    LEFT JOIN stock_balances b ON b.part_id = p.id
        AND (CAST(:warehouse_id AS uuid) IS NULL OR b.warehouse_id = CAST(:warehouse_id AS uuid))
    WHERE p.id = :part_id
    GROUP BY p.id
    """
)


async def part_stock_json(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID | None
) -> str | None:
    params = {"part_id": part_id, "warehouse_id": warehouse_id}
    return (await uow.session.execute(_PART_STOCK_JSON, params)).scalar_one_or_none()


async def engaged_serials(
    uow: UnitOfWork, ids: Iterable[uuid.UUID]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
    """Of these serials: those out on an open loan (serial -> loan) and those with the
    vendor under an open RMA (serial -> RMA)."""
    id_list = list(ids)
    loans = (await uow.session.execute(
        select(col(Loan.serial_id), col(Loan.id)).where(
            col(Loan.serial_id).in_(id_list), col(Loan.state) == "out")
    )).all()  # fmt: skip
    rmas = (await uow.session.execute(
        select(col(Rma.serial_id), col(Rma.id)).where(
            col(Rma.serial_id).in_(id_list), col(Rma.state) == "in_repair")
    )).all()  # fmt: skip
    return {s: i for s, i in loans}, {s: i for s, i in rmas if s is not None}
