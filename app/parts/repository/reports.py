"""The SQL of the spare-parts reports: every figure is summed by PostgreSQL (GROUP BY over
the ledger, the balances, loans and RMAs), never in Python. A report reads other
domains' tables (tickets, customers, devices, product families) in its joins, read
only: it is a report.

Filters are fixed SQL fragments chosen by which values were given; a value only ever
travels as a bound parameter. `scope` is the principal's branch (None: every branch)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, text

from app.core.db import UnitOfWork

_ZONE = "Asia/Shanghai"
_ANY_STOCK = "(b.on_hand <> 0 OR b.reserved <> 0 OR b.defective <> 0 OR b.in_transit <> 0 " \
    "OR b.loaners <> 0)"  # fmt: skip


def _where(filters: Mapping[str, tuple[str, Any]], *fixed: str) -> tuple[str, dict[str, Any]]:
    """`WHERE` of the fixed conditions and of each filter whose value is given: `filters`
    maps a parameter name to (its SQL condition, its value)."""
    conds = list(fixed)
    params: dict[str, Any] = {}
    for name, (cond, value) in filters.items():
        if value is not None:
            conds.append(cond)
            params[name] = value
    return ("WHERE " + " AND ".join(conds)) if conds else "", params


async def _rows(uow: UnitOfWork, sql: str, params: dict[str, Any]) -> Sequence[RowMapping]:
    return (await uow.session.execute(text(sql), params)).mappings().all()


async def stock_by_warehouse(
    uow: UnitOfWork, *, scope: uuid.UUID | None, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None, part_id: uuid.UUID | None, include_zero: bool,
) -> Sequence[RowMapping]:  # fmt: skip
    """One row per balance (part, warehouse): balances are the ledger's sums, kept in the
    transaction of each ledger row."""
    where, params = _where({
        "scope": ("w.branch_id = :scope", scope),
        "warehouse_id": ("w.id = :warehouse_id", warehouse_id),
        "branch_id": ("w.branch_id = :branch_id", branch_id),
        "part_id": ("p.id = :part_id", part_id),
    }, *(() if include_zero else (_ANY_STOCK,)))  # fmt: skip
    sql = f"""
        SELECT w.id AS warehouse_id, w.code AS warehouse_code, w.name AS warehouse_name,
               w.kind AS warehouse_kind, w.branch_id,
               p.id AS part_id, p.number AS part_number, p.name AS part_name,
               b.on_hand, b.reserved, b.on_hand - b.reserved AS available, b.defective,
               b.in_transit, b.loaners, p.unit_cost,
               CAST(b.on_hand * p.unit_cost AS numeric(18, 2)) AS value, p.currency
        FROM stock_balances b
        JOIN warehouses w ON w.id = b.warehouse_id
        JOIN parts p ON p.id = b.part_id
        {where}
        ORDER BY w.code, p.number
    """
    return await _rows(uow, sql, params)


async def movements(
    uow: UnitOfWork, *, scope: uuid.UUID | None, since: datetime, until: datetime,
    part_id: uuid.UUID | None, warehouse_id: uuid.UUID | None, branch_id: uuid.UUID | None,
    kind: str | None,
) -> Sequence[RowMapping]:  # fmt: skip
    """Ledger rows of [since, until) per part, warehouse, kind and bucket (the ix on `at`)."""
    where, params = _where({
        "scope": ("w.branch_id = :scope", scope),
        "part_id": ("m.part_id = :part_id", part_id),
        "warehouse_id": ("m.warehouse_id = :warehouse_id", warehouse_id),
        "branch_id": ("w.branch_id = :branch_id", branch_id),
        "kind": ("m.kind = :kind", kind),
    }, "m.at >= :since", "m.at < :until")  # fmt: skip
    sql = f"""
        SELECT m.part_id, p.number AS part_number, p.name AS part_name,
               m.warehouse_id, w.code AS warehouse_code, w.name AS warehouse_name,
               m.kind, m.bucket, COUNT(*)::int AS movements,
               COALESCE(SUM(m.quantity) FILTER (WHERE m.quantity > 0), 0)::int AS quantity_in,
               COALESCE(-SUM(m.quantity) FILTER (WHERE m.quantity < 0), 0)::int AS quantity_out,
               CAST(SUM(ABS(m.quantity) * m.unit_cost) AS numeric(18, 2)) AS value_moved,
               p.currency
        FROM stock_movements m
        JOIN warehouses w ON w.id = m.warehouse_id
        JOIN parts p ON p.id = m.part_id
        {where}
        GROUP BY m.part_id, p.number, p.name, m.warehouse_id, w.code, w.name, m.kind, m.bucket,
                 p.currency
        ORDER BY p.number, w.code, m.kind, m.bucket
    """
    return await _rows(uow, sql, {**params, "since": since, "until": until})


# How each grouping of the usage report names its group: (key, code, name, joins).
_USAGE_GROUPS: dict[str, tuple[str, str, str, str]] = {
    "ticket": ("t.id::text", "t.number", "t.subject", ""),
    "customer": ("c.id::text", "c.code", "c.name", "JOIN customers c ON c.id = t.customer_id"),
    "product_family": (
        "d.product_family", "d.product_family", "f.name",
        "LEFT JOIN devices d ON d.id = t.device_id "
        "LEFT JOIN product_families f ON f.code = d.product_family",
    ),
    "part": ("p.id::text", "p.number", "p.name", ""),
}  # fmt: skip


async def usage(
    uow: UnitOfWork, *, scope: uuid.UUID | None, since: datetime, until: datetime,
    group_by: str, part_id: uuid.UUID | None, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None,
) -> Sequence[RowMapping]:  # fmt: skip
    """Parts fitted on tickets (ledger kind 'issue') over [since, until) by the issue's
    time, net of the reversals of those rows (a reversal counts against the issue it
    undoes, whenever it was posted: the part was not used). Groups netting to nothing
    are left out. GROUPING SETS add one total row per currency (`is_total`)."""
    key, code, name, joins = _USAGE_GROUPS[group_by]
    where, params = _where({
        "scope": ("t.branch_id = :scope", scope),
        "part_id": ("u.part_id = :part_id", part_id),
        "warehouse_id": ("u.warehouse_id = :warehouse_id", warehouse_id),
        "branch_id": ("t.branch_id = :branch_id", branch_id),
    })  # fmt: skip
    sql = f"""
        WITH used AS (
            SELECT i.part_id, i.warehouse_id, i.ticket_id,
                   -(i.quantity + COALESCE(r.quantity, 0)) AS quantity,
                   -(i.quantity * i.unit_cost + COALESCE(r.quantity * r.unit_cost, 0)) AS value
            FROM stock_movements i
            LEFT JOIN stock_movements r ON r.reverses_id = i.id AND r.kind = 'reversal'
            WHERE i.kind = 'issue' AND i.ticket_id IS NOT NULL
              AND i.at >= :since AND i.at < :until
        )
        SELECT GROUPING({key}) = 1 AS is_total,
               {key} AS key, {code} AS code, {name} AS name, p.currency,
               COUNT(DISTINCT u.ticket_id)::int AS tickets,
               SUM(u.quantity)::int AS quantity,
               CAST(SUM(u.value) AS numeric(18, 2)) AS value
        FROM used u
        JOIN parts p ON p.id = u.part_id
        JOIN tickets t ON t.id = u.ticket_id
        {joins}
        {where}
        GROUP BY GROUPING SETS (({key}, {code}, {name}, p.currency), (p.currency))
        HAVING SUM(u.quantity) <> 0 OR SUM(u.value) <> 0
        ORDER BY is_total, value DESC, code NULLS LAST, key NULLS LAST, p.currency
    """
    return await _rows(uow, sql, {**params, "since": since, "until": until})


async def stock_value(
    uow: UnitOfWork, *, scope: uuid.UUID | None, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None, warehouse_kind: str | None,
) -> Sequence[RowMapping]:  # fmt: skip
    """Per warehouse and currency, and per currency over them all (GROUPING SETS: one
    pass over the balances). `is_total` tells the total rows."""
    where, params = _where({
        "scope": ("w.branch_id = :scope", scope),
        "warehouse_id": ("w.id = :warehouse_id", warehouse_id),
        "branch_id": ("w.branch_id = :branch_id", branch_id),
        "warehouse_kind": ("w.kind = :warehouse_kind", warehouse_kind),
    }, _ANY_STOCK)  # fmt: skip
    sql = f"""
        SELECT GROUPING(w.id) = 1 AS is_total,
               w.id AS warehouse_id, MIN(w.code) AS warehouse_code,
               MIN(w.name) AS warehouse_name, MIN(w.kind) AS warehouse_kind,
               CAST(MIN(w.branch_id::text) AS uuid) AS branch_id, p.currency,
               SUM(b.on_hand)::int AS on_hand, SUM(b.reserved)::int AS reserved,
               CAST(SUM(b.on_hand * p.unit_cost) AS numeric(18, 2)) AS value,
               SUM(b.in_transit)::int AS in_transit,
               CAST(SUM(b.in_transit * p.unit_cost) AS numeric(18, 2)) AS in_transit_value,
               SUM(b.loaners)::int AS loaners,
               CAST(SUM(b.loaners * p.unit_cost) AS numeric(18, 2)) AS loaner_value,
               SUM(b.defective)::int AS defective
        FROM stock_balances b
        JOIN warehouses w ON w.id = b.warehouse_id
        JOIN parts p ON p.id = b.part_id
        {where}
        GROUP BY GROUPING SETS ((w.id, p.currency), (p.currency))
        ORDER BY is_total, warehouse_code, p.currency
    """
    return await _rows(uow, sql, params)


async def open_loans(
    uow: UnitOfWork, *, scope: uuid.UUID | None, today: date, branch_id: uuid.UUID | None,
    customer_id: uuid.UUID | None, overdue: bool | None,
) -> Sequence[RowMapping]:  # fmt: skip
    """Loans still out, with their days out and whether they are overdue on `today` (a
    business date: due back on D is overdue from D+1)."""
    flags: dict[str, tuple[str, Any]] = {
        "scope": ("l.branch_id = :scope", scope),
        "branch_id": ("l.branch_id = :branch_id", branch_id),
        "customer_id": ("l.customer_id = :customer_id", customer_id),
    }
    fixed = ["l.state = 'out'"]
    if overdue is not None:
        fixed.append("l.due_back_on < :today" if overdue else "l.due_back_on >= :today")
    where, params = _where(flags, *fixed)
    sql = f"""
        SELECT l.id AS loan_id, s.serial, p.id AS part_id, p.number AS part_number,
               p.name AS part_name, c.id AS customer_id, c.code AS customer_code,
               c.name AS customer_name, t.id AS ticket_id, t.number AS ticket_number,
               l.warehouse_id, l.branch_id, l.lent_at, l.due_back_on,
               (CAST(:today AS date) - CAST(l.lent_at AT TIME ZONE '{_ZONE}' AS date)) AS days_out,
               l.due_back_on < CAST(:today AS date) AS overdue,
               GREATEST(CAST(:today AS date) - l.due_back_on, 0) AS days_overdue
        FROM loans l
        JOIN part_serials s ON s.id = l.serial_id
        JOIN parts p ON p.id = l.part_id
        JOIN customers c ON c.id = l.customer_id
        JOIN tickets t ON t.id = l.ticket_id
        {where}
        ORDER BY l.due_back_on, l.lent_at, l.id
    """
    return await _rows(uow, sql, {**params, "today": today})


# Open RMAs with their age in business days and its bucket.
_AGED_RMAS = f"""
    WITH aged AS (
        SELECT r.id, r.number, r.state, r.created_at, r.expires_at, r.branch_id,
               r.customer_id, r.ticket_id, r.part_id, r.device_id, r.serial_number, r.vendor,
               (CAST(:today AS date) - CAST(r.created_at AT TIME ZONE '{_ZONE}' AS date))
                   AS age_days
        FROM rmas r
        {{where}}
    )
    SELECT aged.*, CASE WHEN age_days <= 7 THEN '0-7' WHEN age_days <= 14 THEN '8-14'
                        WHEN age_days <= 30 THEN '15-30' ELSE '31+' END AS age_bucket
    FROM aged
"""


def _rma_where(scope: uuid.UUID | None, branch_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    return _where({
        "scope": ("r.branch_id = :scope", scope),
        "branch_id": ("r.branch_id = :branch_id", branch_id),
    }, "r.state NOT IN ('closed', 'expired', 'cancelled')")  # fmt: skip


async def open_rma_groups(
    uow: UnitOfWork, *, scope: uuid.UUID | None, today: date, branch_id: uuid.UUID | None
) -> Sequence[RowMapping]:
    """Open RMAs per age bucket and state, and per bucket (`state` null): their count
    and numbers, oldest first."""
    where, params = _rma_where(scope, branch_id)
    sql = f"""
        SELECT age_bucket, state, COUNT(*)::int AS count,
               array_agg(number ORDER BY created_at, number) AS numbers
        FROM ({_AGED_RMAS.format(where=where)}) x
        GROUP BY GROUPING SETS ((age_bucket, state), (age_bucket))
        ORDER BY age_bucket, MIN(created_at), state
    """
    return await _rows(uow, sql, {**params, "today": today})


async def open_rma_list(
    uow: UnitOfWork, *, scope: uuid.UUID | None, today: date, branch_id: uuid.UUID | None
) -> Sequence[RowMapping]:
    """Open RMAs one by one, oldest first, with who and what they are for."""
    where, params = _rma_where(scope, branch_id)
    sql = f"""
        SELECT x.id AS rma_id, x.number, x.state, x.age_bucket, x.age_days, x.created_at,
               x.expires_at, x.branch_id, x.customer_id, c.name AS customer_name,
               t.number AS ticket_number, p.number AS part_number, x.serial_number,
               d.serial AS device_serial, x.vendor
        FROM ({_AGED_RMAS.format(where=where)}) x
        LEFT JOIN customers c ON c.id = x.customer_id
        LEFT JOIN tickets t ON t.id = x.ticket_id
        LEFT JOIN parts p ON p.id = x.part_id
        LEFT JOIN devices d ON d.id = x.device_id
        ORDER BY x.created_at, x.number
    """
    return await _rows(uow, sql, {**params, "today": today})
