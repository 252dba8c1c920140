"""Spare-parts reports (备件报表): their JSON replies. Each report is also answered as
CSV (one row per item of its main list, columns in the order of the row's fields).

Money is a decimal string with two places, in the part's currency; figures of
different currencies are never added together (totals are per currency)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from app.core.outputs import OutputModel

UsageGroup = Literal["ticket", "customer", "product_family", "part"]
AGE_BUCKETS = ("0-7", "8-14", "15-30", "31+")


# --- stock by warehouse -------------------------------------------------------------------


class StockByWarehouseRow(OutputModel):
    warehouse_id: uuid.UUID
    warehouse_code: str
    warehouse_name: str
    warehouse_kind: str
    branch_id: uuid.UUID
    part_id: uuid.UUID
    part_number: str
    part_name: str
    on_hand: int = Field(description="Good units in the warehouse (reserved ones included).")
    reserved: int
    available: int = Field(description="on_hand - reserved.")
    defective: int
    in_transit: int = Field(description="Units on their way to this warehouse.")
    loaners: int = Field(description="Units of the loaner pool (备机) kept here.")
    unit_cost: Decimal = Field(description="The part's unit cost now.")
    value: Decimal = Field(description="on_hand x unit_cost.")
    currency: str


class StockByWarehouseReport(OutputModel):
    generated_at: datetime
    rows: list[StockByWarehouseRow]


# --- movements over a period --------------------------------------------------------------


class MovementsRow(OutputModel):
    part_id: uuid.UUID
    part_number: str
    part_name: str
    warehouse_id: uuid.UUID
    warehouse_code: str
    warehouse_name: str
    kind: str
    bucket: str = Field(description="good, defective, in_transit or loaner.")
    movements: int = Field(description="Ledger rows.")
    quantity_in: int = Field(description="Sum of the positive quantities.")
    quantity_out: int = Field(description="Sum of the negative quantities, as a positive number.")
    value_moved: Decimal = Field(description="Sum of |quantity| x the row's unit cost.")
    currency: str


class MovementsReport(OutputModel):
    since: datetime
    until: datetime
    generated_at: datetime
    rows: list[MovementsRow]


# --- parts used on tickets ----------------------------------------------------------------


class UsageRow(OutputModel):
    group_by: UsageGroup
    key: str | None = Field(
        description="The ticket, customer or part id, or the product family's code (null: "
        "tickets without a device)."
    )
    code: str | None = Field(
        description="Ticket number, customer code, family code or part number."
    )
    name: str | None = Field(description="Ticket subject, customer, family or part name.")
    tickets: int = Field(description="Tickets the parts were fitted on.")
    quantity: int = Field(description="Units fitted, net of reversals.")
    value: Decimal = Field(description="Their value at the ledger rows' unit cost.")
    currency: str


class CurrencyTotal(OutputModel):
    currency: str
    tickets: int
    quantity: int
    value: Decimal


class UsageReport(OutputModel):
    since: datetime
    until: datetime
    group_by: UsageGroup
    generated_at: datetime
    rows: list[UsageRow]
    totals: list[CurrencyTotal]


# --- value on hand ------------------------------------------------------------------------


class StockValueRow(OutputModel):
    scope: Literal["warehouse", "total"] = Field(
        description="One warehouse, or the total over the warehouses of the report."
    )
    warehouse_id: uuid.UUID | None
    warehouse_code: str | None
    warehouse_name: str | None
    warehouse_kind: str | None
    branch_id: uuid.UUID | None
    currency: str
    on_hand: int
    reserved: int
    value: Decimal = Field(description="Book value of the good stock on hand (reserved included).")
    in_transit: int
    in_transit_value: Decimal = Field(description="On its way here: not in `value`.")
    loaners: int
    loaner_value: Decimal = Field(description="The loaner pool's units: not in `value`.")
    defective: int = Field(description="Defective units: no book value (not in any value).")


class StockValueReport(OutputModel):
    generated_at: datetime
    warehouses: list[StockValueRow]
    totals: list[StockValueRow]


# --- open loans ---------------------------------------------------------------------------


class OpenLoanRow(OutputModel):
    loan_id: uuid.UUID
    serial: str
    part_id: uuid.UUID
    part_number: str
    part_name: str
    customer_id: uuid.UUID
    customer_code: str
    customer_name: str
    ticket_id: uuid.UUID
    ticket_number: str
    warehouse_id: uuid.UUID
    branch_id: uuid.UUID
    lent_at: datetime
    due_back_on: date
    days_out: int = Field(description="Days since the lend date (Asia/Shanghai).")
    overdue: bool = Field(description="Today (Asia/Shanghai) is after due_back_on.")
    days_overdue: int


class OpenLoansReport(OutputModel):
    today: date
    generated_at: datetime
    rows: list[OpenLoanRow]


# --- open RMAs ----------------------------------------------------------------------------


class RmaStateGroup(OutputModel):
    state: str
    count: int
    numbers: list[str]


class RmaAgeBucket(OutputModel):
    bucket: Literal["0-7", "8-14", "15-30", "31+"]
    min_days: int
    max_days: int | None
    count: int
    numbers: list[str] = Field(description="RMA numbers, oldest first.")
    states: list[RmaStateGroup]


class OpenRmasReport(OutputModel):
    today: date
    generated_at: datetime
    buckets: list[RmaAgeBucket]


class OpenRmaRow(OutputModel):
    """One open RMA: the CSV of the open-RMA report."""

    rma_id: uuid.UUID
    number: str
    state: str
    age_bucket: Literal["0-7", "8-14", "15-30", "31+"]
    age_days: int
    created_at: datetime
    expires_at: datetime
    branch_id: uuid.UUID
    customer_id: uuid.UUID | None
    customer_name: str | None
    ticket_number: str | None
    part_number: str | None
    serial_number: str | None
    device_serial: str | None
    vendor: str | None
