"""Spare-parts reports (备件报表): stock per warehouse, movements and parts used over a
period, value on hand, loans out and open RMAs. The figures are summed in SQL
(repository); here: the rules on periods, the branch scope and the business date.

- A branch-scoped key sees its own branch only, in every report: the warehouses of its
  branch (stock, movements, value), the tickets of its branch (usage), its loans and
  RMAs. A filter naming another branch's object gives an empty report, not an error.
- A period is [since, until): both with a time zone, until after since, at most 366
  days (a year, leap day included).
- Value is book value at the part's unit cost now (stock, value on hand) or at the
  ledger row's unit cost (movements, usage). Defective units have no book value here:
  they are shown as units only. In-transit and loaner units are valued apart, not in
  the value on hand.
- Today is the business date in Asia/Shanghai, from the injected clock.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Unprocessable
from app.core.security import Principal
from app.parts.models import MOVEMENT_KINDS
from app.parts.repository import reports as repo
from app.parts.schemas.reports import (
    AGE_BUCKETS,
    CurrencyTotal,
    MovementsReport,
    MovementsRow,
    OpenLoanRow,
    OpenLoansReport,
    OpenRmaRow,
    OpenRmasReport,
    RmaAgeBucket,
    RmaStateGroup,
    StockByWarehouseReport,
    StockByWarehouseRow,
    StockValueReport,
    StockValueRow,
    UsageGroup,
    UsageReport,
    UsageRow,
)

ZONE = ZoneInfo("Asia/Shanghai")
MAX_PERIOD = timedelta(days=366)
_BUCKET_BOUNDS = {"0-7": (0, 7), "8-14": (8, 14), "15-30": (15, 30), "31+": (31, None)}


def business_today() -> date:
    return get_clock().now().astimezone(ZONE).date()


def check_period(since: datetime, until: datetime) -> None:
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Unprocessable(f"{name} needs a time zone (时间需带时区, e.g. +08:00).",
                                field=name)  # fmt: skip
    if until <= since:
        raise Unprocessable("until must be after since (结束时间须晚于开始时间).", field="until")
    if until - since > MAX_PERIOD:
        raise Unprocessable("The period is at most 366 days (统计区间最长 366 天).", field="until")


async def stock_by_warehouse(
    uow: UnitOfWork, principal: Principal, *, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None, part_id: uuid.UUID | None, include_zero: bool,
) -> StockByWarehouseReport:  # fmt: skip
    rows = await repo.stock_by_warehouse(
        uow, scope=principal.branch_id, warehouse_id=warehouse_id, branch_id=branch_id,
        part_id=part_id, include_zero=include_zero,
    )  # fmt: skip
    return StockByWarehouseReport(generated_at=get_clock().now(),
                                  rows=[StockByWarehouseRow.model_validate(dict(r)) for r in rows])  # fmt: skip


async def movements(
    uow: UnitOfWork, principal: Principal, *, since: datetime, until: datetime,
    part_id: uuid.UUID | None, warehouse_id: uuid.UUID | None, branch_id: uuid.UUID | None,
    kind: str | None,
) -> MovementsReport:  # fmt: skip
    check_period(since, until)
    if kind is not None and kind not in MOVEMENT_KINDS:
        raise Unprocessable(f"kind is one of: {', '.join(MOVEMENT_KINDS)}.", field="kind")
    rows = await repo.movements(
        uow, scope=principal.branch_id, since=since, until=until, part_id=part_id,
        warehouse_id=warehouse_id, branch_id=branch_id, kind=kind,
    )  # fmt: skip
    return MovementsReport(since=since, until=until, generated_at=get_clock().now(),
                           rows=[MovementsRow.model_validate(dict(r)) for r in rows])  # fmt: skip


async def usage(
    uow: UnitOfWork, principal: Principal, *, since: datetime, until: datetime,
    group_by: UsageGroup, part_id: uuid.UUID | None, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None,
) -> UsageReport:  # fmt: skip
    check_period(since, until)
    rows = await repo.usage(
        uow, scope=principal.branch_id, since=since, until=until, group_by=group_by,
        part_id=part_id, warehouse_id=warehouse_id, branch_id=branch_id,
    )  # fmt: skip
    groups = [UsageRow.model_validate({**r, "group_by": group_by}) for r in rows
              if not r["is_total"]]  # fmt: skip
    totals = [CurrencyTotal.model_validate(dict(r)) for r in rows if r["is_total"]]
    return UsageReport(since=since, until=until, group_by=group_by,
                       generated_at=get_clock().now(), rows=groups, totals=totals)  # fmt: skip


async def stock_value(
    uow: UnitOfWork, principal: Principal, *, warehouse_id: uuid.UUID | None,
    branch_id: uuid.UUID | None, warehouse_kind: str | None,
) -> StockValueReport:  # fmt: skip
    rows = await repo.stock_value(uow, scope=principal.branch_id, warehouse_id=warehouse_id,
                                  branch_id=branch_id, warehouse_kind=warehouse_kind)  # fmt: skip
    out = [
        StockValueRow.model_validate({**r, "scope": "total" if r["is_total"] else "warehouse"})
        for r in rows
    ]
    return StockValueReport(generated_at=get_clock().now(),
                            warehouses=[r for r in out if r.scope == "warehouse"],
                            totals=[r for r in out if r.scope == "total"])  # fmt: skip


async def open_loans(
    uow: UnitOfWork, principal: Principal, *, branch_id: uuid.UUID | None,
    customer_id: uuid.UUID | None, overdue: bool | None,
) -> OpenLoansReport:  # fmt: skip
    today = business_today()
    rows = await repo.open_loans(uow, scope=principal.branch_id, today=today,
                                 branch_id=branch_id, customer_id=customer_id,
                                 overdue=overdue)  # fmt: skip
    return OpenLoansReport(today=today, generated_at=get_clock().now(),
                           rows=[OpenLoanRow.model_validate(dict(r)) for r in rows])  # fmt: skip


async def open_rmas(
    uow: UnitOfWork, principal: Principal, *, branch_id: uuid.UUID | None
) -> OpenRmasReport:
    """Every age bucket, in order, even an empty one (a dashboard shows all four)."""
    today = business_today()
    groups = await repo.open_rma_groups(uow, scope=principal.branch_id, today=today,
                                        branch_id=branch_id)  # fmt: skip
    buckets = []
    for name in AGE_BUCKETS:
        mine = [g for g in groups if g["age_bucket"] == name]
        whole = next((g for g in mine if g["state"] is None), None)
        low, high = _BUCKET_BOUNDS[name]
        buckets.append(RmaAgeBucket(
            bucket=name, min_days=low, max_days=high, count=whole["count"] if whole else 0,
            numbers=list(whole["numbers"]) if whole else [],
            states=[RmaStateGroup(state=g["state"], count=g["count"], numbers=list(g["numbers"]))
                    for g in mine if g["state"] is not None],
        ))  # fmt: skip
    return OpenRmasReport(today=today, generated_at=get_clock().now(), buckets=buckets)


async def open_rma_rows(
    uow: UnitOfWork, principal: Principal, *, branch_id: uuid.UUID | None
) -> list[OpenRmaRow]:
    rows = await repo.open_rma_list(uow, scope=principal.branch_id, today=business_today(),
                                    branch_id=branch_id)  # fmt: skip
    return [OpenRmaRow.model_validate(dict(r)) for r in rows]
