"""Spare parts over HTTP: reports (备件报表). Each answers JSON, or CSV when asked with
`format=csv` or `Accept: text/csv` (`format` wins over Accept).

The CSV is what Excel opens as is: UTF-8 with a byte order mark (so that Chinese
names are read right), a header row of the JSON row's field names, RFC 4180 quoting
and CRLF (the stdlib csv module's excel dialect), sent as an attachment named after
the report and today's date (Asia/Shanghai). A text cell that would start a formula
(=, +, -, @, tab, CR) gets a leading apostrophe: a part or customer name must not run
in the spreadsheet of whoever opens the file (CSV injection)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel

from app.access.deps import require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.security import Permission, Principal
from app.parts.schemas.reports import (
    MovementsReport,
    MovementsRow,
    OpenLoanRow,
    OpenLoansReport,
    OpenRmaRow,
    OpenRmasReport,
    StockByWarehouseReport,
    StockByWarehouseRow,
    StockValueReport,
    StockValueRow,
    UsageGroup,
    UsageReport,
    UsageRow,
)
from app.parts.service import reports as service

router = APIRouter(prefix="/v1", tags=["parts"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="csv: the report as CSV (else as `Accept` asks; JSON "
          "by default)."),
]  # fmt: skip
Since = Annotated[AwareDatetime, Query(description="Start of the period, included (RFC 3339, "
                                       "with its time zone).")]  # fmt: skip
Until = Annotated[AwareDatetime, Query(description="End of the period, excluded; at most 366 "
                                       "days after `since`.")]  # fmt: skip
BranchFilter = Annotated[uuid.UUID | None, Query(description="Warehouses of this branch.")]
CSV = "text/csv"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, or CSV (`format=csv` or `Accept: text/csv`).",
        "content": {CSV: {"schema": {"type": "string"}}},
    },
    **problem_responses(400, 401, 403, 422),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- content negotiation and CSV ------------------------------------------------------


def _accept_q(accept: str, kind: str, sub: str) -> float:
    """The quality `accept` gives kind/sub: that of its most specific matching range."""
    best, best_rank = 0.0, 0
    for item in accept.split(",")[:50]:
        media, *params = (p.strip() for p in item.split(";"))
        k, _, s = media.lower().partition("/")
        rank = 3 if (k, s) == (kind, sub) else 2 if (k, s) == (kind, "*") else \
            1 if (k, s) == ("*", "*") else 0  # fmt: skip
        if rank <= best_rank:
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # out of range (or NaN): as if not acceptable
                    q = 0.0
        best, best_rank = q, rank
    return best


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return _accept_q(accept, "text", "csv") > _accept_q(accept, "application", "json")


def _cell(value: Any, text: bool) -> str:
    """A cell from the value as the JSON reply has it (same dates, decimals and ids); a
    text value that would start a formula is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    cell = str(value)
    return "'" + cell if text and cell.startswith(_FORMULA_START) else cell


def csv_body(model: type[BaseModel], rows: Iterable[BaseModel]) -> bytes:
    """The rows as CSV: BOM, header row of `model`'s fields, RFC 4180 quoting, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, dialect="excel")
    fields = list(model.model_fields)
    writer.writerow(fields)
    for row in rows:
        as_json = row.model_dump(mode="json")
        writer.writerow([_cell(as_json[f], isinstance(getattr(row, f), str)) for f in fields])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv(name: str, model: type[BaseModel], rows: Sequence[BaseModel]) -> Response:
    filename = f"{name}-{service.business_today():%Y%m%d}.csv"
    return Response(csv_body(model, rows), media_type=f"{CSV}; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept",
    })  # fmt: skip


# --- the reports ----------------------------------------------------------------------


@router.get("/reports/parts/stock-by-warehouse", operation_id="reportStockByWarehouse",
            summary="Stock per warehouse and part: on hand, reserved, available, defective, "
            "in transit, loaners, value", response_model=StockByWarehouseReport,
            responses=_RESPONSES)  # fmt: skip
async def stock_by_warehouse(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW, fmt: Format = None,
    warehouse_id: uuid.UUID | None = None, branch_id: BranchFilter = None,
    part_id: uuid.UUID | None = None,
    include_zero: Annotated[bool, Query(description="Also balances that are all zero.")] = False,
):  # fmt: skip
    report = await service.stock_by_warehouse(
        uow, principal, warehouse_id=warehouse_id, branch_id=branch_id, part_id=part_id,
        include_zero=include_zero,
    )  # fmt: skip
    if _wants_csv(request, fmt):
        return _csv("stock-by-warehouse", StockByWarehouseRow, report.rows)
    response.headers["Vary"] = "Accept"
    return report


@router.get("/reports/parts/movements", operation_id="reportStockMovements",
            summary="Ledger movements over a period per part, warehouse, kind and bucket: "
            "rows, quantity in and out, value moved", response_model=MovementsReport,
            responses=_RESPONSES)  # fmt: skip
async def movements(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW,
    since: Since, until: Until, fmt: Format = None,
    part_id: uuid.UUID | None = None, warehouse_id: uuid.UUID | None = None,
    branch_id: BranchFilter = None,
    kind: Annotated[str | None, Query(max_length=20, description="A ledger kind.")] = None,
):  # fmt: skip
    report = await service.movements(
        uow, principal, since=since, until=until, part_id=part_id, warehouse_id=warehouse_id,
        branch_id=branch_id, kind=kind,
    )  # fmt: skip
    if _wants_csv(request, fmt):
        return _csv("stock-movements", MovementsRow, report.rows)
    response.headers["Vary"] = "Accept"
    return report


@router.get("/reports/parts/usage", operation_id="reportPartsUsage",
            summary="Parts fitted on tickets over a period (net of reversals), per ticket, "
            "customer, product family or part", response_model=UsageReport,
            responses=_RESPONSES)  # fmt: skip
async def usage(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW,
    since: Since, until: Until, fmt: Format = None,
    group_by: Annotated[UsageGroup, Query(description="What a row is.")] = "part",
    part_id: uuid.UUID | None = None,
    warehouse_id: Annotated[uuid.UUID | None, Query(description="Issued from it.")] = None,
    branch_id: Annotated[uuid.UUID | None, Query(description="Tickets of this branch.")] = None,
):  # fmt: skip
    report = await service.usage(
        uow, principal, since=since, until=until, group_by=group_by, part_id=part_id,
        warehouse_id=warehouse_id, branch_id=branch_id,
    )  # fmt: skip
    if _wants_csv(request, fmt):
        return _csv(f"parts-usage-by-{group_by.replace('_', '-')}", UsageRow, report.rows)
    response.headers["Vary"] = "Accept"
    return report


@router.get("/reports/parts/value-on-hand", operation_id="reportStockValue",
            summary="Book value of good stock on hand per warehouse and overall, per currency "
            "(defective: units only, no book value)", response_model=StockValueReport,
            responses=_RESPONSES)  # fmt: skip
async def stock_value(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW, fmt: Format = None,
    warehouse_id: uuid.UUID | None = None, branch_id: BranchFilter = None,
    warehouse_kind: Literal["central", "regional", "branch", "customer_site"] | None = None,
):  # fmt: skip
    report = await service.stock_value(uow, principal, warehouse_id=warehouse_id,
                                       branch_id=branch_id, warehouse_kind=warehouse_kind)  # fmt: skip
    if _wants_csv(request, fmt):
        return _csv("stock-value", StockValueRow, [*report.warehouses, *report.totals])
    response.headers["Vary"] = "Accept"
    return report


@router.get("/reports/parts/open-loans", operation_id="reportOpenLoans",
            summary="Loaners (备机) out: serial, part, customer, ticket, since when, due back "
            "when, days out, overdue", response_model=OpenLoansReport,
            responses=_RESPONSES)  # fmt: skip
async def open_loans(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW, fmt: Format = None,
    branch_id: Annotated[uuid.UUID | None, Query(description="Loans of this branch.")] = None,
    customer_id: uuid.UUID | None = None,
    overdue: Annotated[bool | None, Query(description="Only overdue ones (or only not).")] = None,
):  # fmt: skip
    report = await service.open_loans(uow, principal, branch_id=branch_id,
                                      customer_id=customer_id, overdue=overdue)  # fmt: skip
    if _wants_csv(request, fmt):
        return _csv("open-loans", OpenLoanRow, report.rows)
    response.headers["Vary"] = "Accept"
    return report


@router.get("/reports/parts/open-rmas", operation_id="reportOpenRmas",
            summary="Open RMAs by age (0-7, 8-14, 15-30, 31+ days) and state, with their "
            "numbers; the CSV has one row per RMA", response_model=OpenRmasReport,
            responses=_RESPONSES)  # fmt: skip
async def open_rmas(  # type: ignore[no-untyped-def]
    request: Request, response: Response, principal: Reader, uow: UoW, fmt: Format = None,
    branch_id: Annotated[uuid.UUID | None, Query(description="RMAs of this branch.")] = None,
):  # fmt: skip
    if _wants_csv(request, fmt):
        rows = await service.open_rma_rows(uow, principal, branch_id=branch_id)
        return _csv("open-rmas", OpenRmaRow, rows)
    response.headers["Vary"] = "Accept"
    return await service.open_rmas(uow, principal, branch_id=branch_id)
