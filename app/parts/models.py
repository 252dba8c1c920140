"""Spare parts (备件): the catalogue of parts, warehouses and their order of nearness,
the append-only stock ledger with one balance row per (part, warehouse), serials, part
requests on tickets with their reservations, RMAs and loaners.

What the database holds by itself, so that no application bug (or psql session) can
break it: ledger rows are never updated or deleted (a trigger, migration 0009);
balances cannot go negative nor reserve more than is on hand (CHECK constraints); a
serial is unique per part and reserved or lent by at most one request or loan at a
time (partial unique indexes).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Identity, Index, Numeric, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.columns import enum_check, id_field, ts_field

LIFECYCLES = ("active", "discontinued")
WAREHOUSE_KINDS = ("central", "regional", "branch", "customer_site")
# A ledger row moves a quantity in one bucket of one (part, warehouse): good stock on
# hand, defective parts held there, parts in transit to it, or loaner units (备机) of the
# loaner pool kept there (not available to part requests).
BUCKETS = ("good", "defective", "in_transit", "loaner")
MOVEMENT_KINDS = (
    "receipt",  # from a supplier (purchase) into a warehouse
    "issue",  # fitted on a ticket: leaves stock for the customer's device
    "transfer_out",  # leaves a warehouse for another (good -n there, in transit +n at the other)
    "transfer_in",  # arrives (in transit -n, good +n)
    "return_good",  # a good part comes back into stock
    "return_defective",  # a defective part comes back (defective +n)
    "scrap",  # written off from good or defective stock
    "adjustment",  # a count found more or fewer (reason required)
    "reversal",  # undoes an earlier row (reverses_id), a correction
    "vendor_out",  # sent to the vendor for repair (RMA)
    "vendor_in",  # back from the vendor (repaired, replaced or rejected)
    "pool_in",  # a good serial joins the loaner pool (good -1, loaner +1)
    "pool_out",  # a loaner leaves the pool for ordinary stock (loaner -1, good +1)
    "loan_out",  # a loaner lent to a customer
    "loan_in",  # a loaner returned
    "loan_sold",  # a lent unit converted to a sale (serial only, no stock moves)
    "loan_written_off",  # a lent unit lost (serial only)
    "serial_fitted",  # a serial placed on a device without a warehouse (RMA replacement)
)
# Where a serial is: exactly one of these at any moment.
SERIAL_PLACES = ("warehouse", "in_transit", "customer", "vendor", "scrapped")
SERIAL_CONDITIONS = ("good", "defective")
REQUEST_STATES = (
    "awaiting_approval",
    "approved",
    "rejected",
    "dispatched",
    "delivered",
    "fitted",
    "closed",
    "cancelled",
)
OPEN_REQUEST_STATES = ("awaiting_approval", "approved", "dispatched", "delivered")
RESERVATION_STATES = ("active", "released", "consumed")
DESTINATIONS = ("site", "engineer")
RMA_STATES = (
    "authorised",
    "received",
    "in_repair",
    "repaired",
    "replaced",
    "rejected",
    "shipped_back",
    "closed",
    "expired",
    "cancelled",
)
OPEN_RMA_STATES = ("authorised", "received", "in_repair", "repaired", "replaced", "rejected",
                   "shipped_back")  # fmt: skip
LOAN_STATES = ("out", "returned", "sold", "written_off")

MONEY = Numeric(14, 2)


class Part(SQLModel, table=True):
    """A part number in the catalogue. A discontinued part (停产) names its substitute or a
    stated alternative; requests for it propose the substitute."""

    __tablename__ = "parts"
    __table_args__ = (
        enum_check("lifecycle", LIFECYCLES, "ck_parts_lifecycle"),
        CheckConstraint(
            "lifecycle = 'active' OR substitute_id IS NOT NULL OR alternative IS NOT NULL",
            name="ck_parts_discontinued_has_substitute",
        ),
        CheckConstraint("substitute_id IS NULL OR substitute_id <> id", name="ck_parts_not_self"),
        CheckConstraint("unit_cost >= 0", name="ck_parts_unit_cost"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_parts_currency"),
    )

    id: uuid.UUID = id_field()
    number: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    unit_cost: Decimal = Field(sa_type=MONEY, default=Decimal("0"))
    currency: str = Field(default="CNY", max_length=3)
    serialised: bool = Field(default=False)
    lifecycle: str = Field(default="active", max_length=16)
    substitute_id: uuid.UUID | None = Field(default=None, foreign_key="parts.id")
    alternative: str | None = Field(default=None, max_length=1000)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class PartFit(SQLModel, table=True):
    """A product family (and optionally one model of it, '' for every model) a part fits."""

    __tablename__ = "part_fits"
    __table_args__ = (Index("ix_part_fits_family", "product_family", "model"),)

    part_id: uuid.UUID = Field(foreign_key="parts.id", primary_key=True, ondelete="CASCADE")
    product_family: str = Field(foreign_key="product_families.code", primary_key=True,
                                max_length=64)  # fmt: skip
    model: str = Field(default="", primary_key=True, max_length=100)


class Warehouse(SQLModel, table=True):
    """A stock location: central, regional or branch depot, or a customer-site depot (本地
    备件库) kept under a contract."""

    __tablename__ = "warehouses"
    __table_args__ = (
        enum_check("kind", WAREHOUSE_KINDS, "ck_warehouses_kind"),
        CheckConstraint(
            "(kind = 'customer_site') = (contract_id IS NOT NULL)",
            name="ck_warehouses_site_contract",
        ),
    )

    id: uuid.UUID = id_field()
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=16)
    branch_id: uuid.UUID = Field(foreign_key="branches.id", index=True)
    contract_id: uuid.UUID | None = Field(default=None, foreign_key="contracts.id")
    address: str = Field(max_length=500)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class WarehouseRank(SQLModel, table=True):
    """How near a warehouse is to a branch (1 nearest): the order in which a part request
    from that branch looks for stock. Data, not code: set through the API; a new
    warehouse gets the default order (same branch, same region, central)."""

    __tablename__ = "warehouse_ranks"
    __table_args__ = (
        CheckConstraint("rank >= 1", name="ck_warehouse_ranks_rank"),
        Index("ix_warehouse_ranks_order", "branch_id", "rank", "warehouse_id"),
    )

    branch_id: uuid.UUID = Field(foreign_key="branches.id", primary_key=True)
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id", primary_key=True,
                                    ondelete="CASCADE")  # fmt: skip
    rank: int


class StockBalance(SQLModel, table=True):
    """On hand, reserved, defective and in transit for one (part, warehouse), changed in the
    transaction of the ledger row (or reservation) that moves it. Available is
    on_hand - reserved. `below_reorder` remembers a low-stock crossing, so that one
    crossing raises one event."""

    __tablename__ = "stock_balances"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_stock_balances_on_hand"),
        CheckConstraint("reserved >= 0", name="ck_stock_balances_reserved"),
        CheckConstraint("on_hand >= reserved", name="ck_stock_balances_reserved_le_on_hand"),
        CheckConstraint("in_transit >= 0", name="ck_stock_balances_in_transit"),
        CheckConstraint("defective >= 0", name="ck_stock_balances_defective"),
        CheckConstraint("loaners >= 0", name="ck_stock_balances_loaners"),
        CheckConstraint(
            "reorder_point IS NULL OR reorder_point >= 0", name="ck_stock_balances_reorder_point"
        ),
        CheckConstraint(
            "target_level IS NULL OR (reorder_point IS NOT NULL AND target_level >= reorder_point)",
            name="ck_stock_balances_target_level",
        ),
        Index("ix_stock_balances_warehouse", "warehouse_id", "part_id"),
    )

    part_id: uuid.UUID = Field(foreign_key="parts.id", primary_key=True)
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id", primary_key=True)
    on_hand: int = Field(default=0)
    reserved: int = Field(default=0)
    defective: int = Field(default=0)
    in_transit: int = Field(default=0)
    loaners: int = Field(default=0)
    reorder_point: int | None = None
    target_level: int | None = None
    below_reorder: bool = Field(default=False)
    updated_at: datetime = ts_field()


class Serial(SQLModel, table=True):
    """One unit of a serialised part, in exactly one place. Its history is its ledger rows."""

    __tablename__ = "part_serials"
    __table_args__ = (
        Index("uq_part_serials_part_serial", "part_id", "serial", unique=True),
        Index("ix_part_serials_serial", "serial"),
        Index("ix_part_serials_place", "part_id", "warehouse_id", "place", "condition"),
        enum_check("place", SERIAL_PLACES, "ck_part_serials_place"),
        enum_check("condition", SERIAL_CONDITIONS, "ck_part_serials_condition"),
        CheckConstraint(
            "(place IN ('warehouse', 'in_transit')) = (warehouse_id IS NOT NULL)",
            name="ck_part_serials_warehouse",
        ),
        CheckConstraint(
            "place = 'customer' OR (customer_id IS NULL AND device_id IS NULL)",
            name="ck_part_serials_customer",
        ),
    )

    id: uuid.UUID = id_field()
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    serial: str = Field(max_length=100)
    place: str = Field(max_length=16)
    condition: str = Field(default="good", max_length=16)
    warehouse_id: uuid.UUID | None = Field(default=None, foreign_key="warehouses.id")
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customers.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="devices.id")
    loaner: bool = Field(default=False)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class StockMovement(SQLModel, table=True):
    """One ledger row (备件台帐): never updated, never deleted (a trigger refuses both).
    `quantity` is signed, in `bucket` of (part, warehouse); a serial's row also says
    where the serial went (`serial_place`...), so "where was serial X on date D" is the
    last of its rows before D. `seq` orders rows as they were committed-in-order within
    one (part, warehouse): balances are locked before a row is written."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        enum_check("kind", MOVEMENT_KINDS, "ck_stock_movements_kind"),
        enum_check("bucket", BUCKETS, "ck_stock_movements_bucket"),
        CheckConstraint(
            "quantity <> 0 OR serial_id IS NOT NULL", name="ck_stock_movements_quantity"
        ),
        CheckConstraint(
            "serial_place IS NULL OR serial_place IN "
            "('warehouse', 'in_transit', 'customer', 'vendor', 'scrapped')",
            name="ck_stock_movements_serial_place",
        ),
        CheckConstraint(
            "kind <> 'adjustment' OR reason IS NOT NULL",
            name="ck_stock_movements_adjustment_reason",
        ),
        CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)", name="ck_stock_movements_reversal"
        ),
        Index("ix_stock_movements_part_wh_at", "part_id", "warehouse_id", "at"),
        Index("ix_stock_movements_at", "at"),
        # A posting's rows (a reversal reads them; found by bench/parts at 5M rows).
        Index("ix_stock_movements_batch", "batch_id"),
        Index(
            "ix_stock_movements_serial",
            "serial_id",
            "at",
            postgresql_where=text("serial_id IS NOT NULL"),
        ),
        Index(
            "ix_stock_movements_ticket", "ticket_id", postgresql_where=text("ticket_id IS NOT NULL")
        ),
        # A row is reversed at most once.
        Index(
            "uq_stock_movements_reverses",
            "reverses_id",
            unique=True,
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = id_field()
    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True),
    )
    at: datetime = ts_field()
    kind: str = Field(max_length=20)
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    bucket: str = Field(default="good", max_length=12)
    quantity: int
    unit_cost: Decimal = Field(sa_type=MONEY)
    serial_id: uuid.UUID | None = Field(default=None, foreign_key="part_serials.id")
    serial_place: str | None = Field(default=None, max_length=16)
    serial_condition: str | None = Field(default=None, max_length=16)
    serial_warehouse_id: uuid.UUID | None = None
    serial_customer_id: uuid.UUID | None = None
    serial_device_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = Field(default=None, foreign_key="tickets.id")
    request_id: uuid.UUID | None = None
    rma_id: uuid.UUID | None = None
    loan_id: uuid.UUID | None = None
    # The rows one posting wrote share it (a transfer's four rows, a reversal's).
    batch_id: uuid.UUID
    reverses_id: uuid.UUID | None = Field(default=None, foreign_key="stock_movements.id")
    reason: str | None = Field(default=None, max_length=1000)
    actor_id: uuid.UUID | None = None
    actor_name: str = Field(max_length=200)


TRANSFER_STATES = ("in_transit", "received", "cancelled")


class StockTransfer(SQLModel, table=True):
    """Units sent from one warehouse to another: in transit (counted at the destination's
    `in_transit`) until received. Its ledger rows carry its id as their batch."""

    __tablename__ = "stock_transfers"
    __table_args__ = (
        enum_check("state", TRANSFER_STATES, "ck_stock_transfers_state"),
        CheckConstraint("quantity >= 1", name="ck_stock_transfers_quantity"),
        CheckConstraint("from_warehouse_id <> to_warehouse_id", name="ck_stock_transfers_ends"),
        Index(
            "ix_stock_transfers_open",
            "to_warehouse_id",
            "id",
            postgresql_where=text("state = 'in_transit'"),
        ),
    )

    id: uuid.UUID = id_field()
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    from_warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    to_warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    quantity: int
    serial_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    state: str = Field(default="in_transit", max_length=12)
    reason: str | None = Field(default=None, max_length=1000)
    shipped_at: datetime = ts_field()
    received_at: datetime | None = ts_field(nullable=True)
    created_by: str = Field(max_length=200)
    version: int = Field(default=1)


class PartRequest(SQLModel, table=True):
    """A part asked for on a ticket (备件申请), from reservation to fitting and the
    defective part's return."""

    __tablename__ = "part_requests"
    __table_args__ = (
        enum_check("state", REQUEST_STATES, "ck_part_requests_state"),
        enum_check("destination", DESTINATIONS, "ck_part_requests_destination"),
        CheckConstraint("quantity >= 1", name="ck_part_requests_quantity"),
        CheckConstraint(
            "destination = 'site' OR engineer_id IS NOT NULL", name="ck_part_requests_engineer"
        ),
        Index("ix_part_requests_ticket", "ticket_id", "id"),
        Index(
            "ix_part_requests_open",
            "state",
            "id",
            postgresql_where=text(
                "state IN ('awaiting_approval', 'approved', 'dispatched', 'delivered')"
            ),
        ),
    )

    id: uuid.UUID = id_field()
    number: str = Field(max_length=20, unique=True)
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    # The discontinued part asked for, when its substitute was taken instead.
    requested_part_id: uuid.UUID | None = Field(default=None, foreign_key="parts.id")
    quantity: int
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    destination: str = Field(max_length=16)
    engineer_id: uuid.UUID | None = Field(default=None, foreign_key="engineers.id")
    address: str | None = Field(default=None, max_length=500)
    state: str = Field(max_length=20)
    value: Decimal = Field(sa_type=MONEY)
    currency: str = Field(max_length=3)
    approval_reasons: list[str] = Field(default_factory=list, sa_type=JSONB)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = ts_field(nullable=True)
    decision_note: str | None = Field(default=None, max_length=2000)
    warranty: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    due_at: datetime | None = ts_field(nullable=True)
    dispatched_at: datetime | None = ts_field(nullable=True)
    delivered_at: datetime | None = ts_field(nullable=True)
    fitted_at: datetime | None = ts_field(nullable=True)
    return_due_at: datetime | None = ts_field(nullable=True)
    returned_at: datetime | None = ts_field(nullable=True)
    ended_at: datetime | None = ts_field(nullable=True)
    note: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=200)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Reservation(SQLModel, table=True):
    """Units held for a part request in one warehouse (one row per serial for a serialised
    part). Active reservations are what `stock_balances.reserved` counts."""

    __tablename__ = "part_reservations"
    __table_args__ = (
        enum_check("state", RESERVATION_STATES, "ck_part_reservations_state"),
        CheckConstraint("quantity >= 1", name="ck_part_reservations_quantity"),
        CheckConstraint("serial_id IS NULL OR quantity = 1", name="ck_part_reservations_serial"),
        # A serial is reserved by one request at a time, whatever the interleaving.
        Index(
            "uq_part_reservations_serial_active",
            "serial_id",
            unique=True,
            postgresql_where=text("state = 'active' AND serial_id IS NOT NULL"),
        ),
        Index("ix_part_reservations_request", "request_id"),
        Index(
            "ix_part_reservations_active",
            "part_id",
            "warehouse_id",
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: uuid.UUID = id_field()
    request_id: uuid.UUID = Field(foreign_key="part_requests.id")
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    serial_id: uuid.UUID | None = Field(default=None, foreign_key="part_serials.id")
    quantity: int
    state: str = Field(default="active", max_length=12)
    created_at: datetime = ts_field()
    ended_at: datetime | None = ts_field(nullable=True)


class Rma(SQLModel, table=True):
    """A return authorisation (返修) for a device or a part, valid until `expires_at`."""

    __tablename__ = "rmas"
    __table_args__ = (
        enum_check("state", RMA_STATES, "ck_rmas_state"),
        CheckConstraint("(device_id IS NULL) <> (part_id IS NULL)", name="ck_rmas_subject"),
        Index(
            "ix_rmas_open",
            "state",
            "created_at",
            postgresql_where=text("state NOT IN ('closed', 'expired', 'cancelled')"),
        ),
        Index("ix_rmas_ticket", "ticket_id", postgresql_where=text("ticket_id IS NOT NULL")),
        CheckConstraint("quantity >= 1", name="ck_rmas_quantity"),
        CheckConstraint("serial_id IS NULL OR quantity = 1", name="ck_rmas_serial_quantity"),
        # One open return per device and per serial, whatever the interleaving.
        Index(
            "uq_rmas_device_open",
            "device_id",
            unique=True,
            postgresql_where=text(
                "device_id IS NOT NULL AND state NOT IN ('closed', 'expired', 'cancelled')"
            ),
        ),
        Index(
            "uq_rmas_serial_open",
            "part_id",
            "serial_number",
            unique=True,
            postgresql_where=text(
                "serial_number IS NOT NULL AND state NOT IN ('closed', 'expired', 'cancelled')"
            ),
        ),
    )

    id: uuid.UUID = id_field()
    number: str = Field(max_length=20, unique=True)
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customers.id")
    ticket_id: uuid.UUID | None = Field(default=None, foreign_key="tickets.id")
    device_id: uuid.UUID | None = Field(default=None, foreign_key="devices.id")
    part_id: uuid.UUID | None = Field(default=None, foreign_key="parts.id")
    serial_id: uuid.UUID | None = Field(default=None, foreign_key="part_serials.id")
    # The serial as given: a serial unknown until now gets its row when it is received.
    serial_number: str | None = Field(default=None, max_length=100)
    quantity: int = Field(default=1)
    replacement_serial_id: uuid.UUID | None = Field(default=None, foreign_key="part_serials.id")
    # The vendor's replacement as given (a device's too, which has no serial row here).
    replacement_serial_number: str | None = Field(default=None, max_length=100)
    warehouse_id: uuid.UUID | None = Field(default=None, foreign_key="warehouses.id")
    vendor: str | None = Field(default=None, max_length=200)
    reason: str = Field(max_length=2000)
    warranty: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    state: str = Field(default="authorised", max_length=16)
    expires_at: datetime = ts_field()
    received_at: datetime | None = ts_field(nullable=True)
    closed_at: datetime | None = ts_field(nullable=True)
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    created_by: str = Field(max_length=200)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Loan(SQLModel, table=True):
    """A loaner unit (备机) lent to a customer against a ticket."""

    __tablename__ = "loans"
    __table_args__ = (
        enum_check("state", LOAN_STATES, "ck_loans_state"),
        # A serial is out on one loan at a time, whatever the interleaving.
        Index(
            "uq_loans_serial_out", "serial_id", unique=True, postgresql_where=text("state = 'out'")
        ),
        Index("ix_loans_customer", "customer_id", "id"),
        Index("ix_loans_ticket", "ticket_id", "id"),
        # The overdue list: loans still out, by due date.
        Index("ix_loans_out_due", "due_back_on", postgresql_where=text("state = 'out'")),
        CheckConstraint(
            "return_condition IS NULL OR return_condition IN ('good', 'defective')",
            name="ck_loans_return_condition",
        ),
        CheckConstraint("(state = 'out') = (ended_at IS NULL)", name="ck_loans_ended_at"),
    )

    id: uuid.UUID = id_field()
    serial_id: uuid.UUID = Field(foreign_key="part_serials.id")
    part_id: uuid.UUID = Field(foreign_key="parts.id")
    warehouse_id: uuid.UUID = Field(foreign_key="warehouses.id")
    ticket_id: uuid.UUID = Field(foreign_key="tickets.id")
    branch_id: uuid.UUID = Field(foreign_key="branches.id")
    customer_id: uuid.UUID = Field(foreign_key="customers.id")
    state: str = Field(default="out", max_length=16)
    lent_at: datetime = ts_field()
    due_back_on: date
    ended_at: datetime | None = ts_field(nullable=True)
    note: str | None = Field(default=None, max_length=2000)
    # How it ended: the warehouse and condition it came back in, or why it was written
    # off (or the note of the sale), and who ended it.
    returned_to_id: uuid.UUID | None = Field(default=None, foreign_key="warehouses.id")
    return_condition: str | None = Field(default=None, max_length=16)
    end_reason: str | None = Field(default=None, max_length=1000)
    ended_by: str | None = Field(default=None, max_length=200)
    # When the due-soon reminder and the overdue notice went out for the current due
    # date (cleared by an extension): a timer run twice says it once.
    reminded_at: datetime | None = ts_field(nullable=True)
    overdue_noticed_at: datetime | None = ts_field(nullable=True)
    created_by: str = Field(max_length=200)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
