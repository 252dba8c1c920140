"""Stock requests and replies: movements (receipts, transfers, returns, scrap, count
adjustments, reversals), balances, stock as of an instant, serials and where they are."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

SerialNumber = str
_SERIALS = Field(
    None,
    max_length=1000,
    description="Serial numbers, one per unit: required for a serialised part, refused for others.",
)
_ID_EX = "0192f3c4-0000-7000-8000-0000000000"


def _unique(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    cleaned = [v.strip() for v in values]
    if any(not v or len(v) > 100 for v in cleaned):
        raise ValueError("a serial is 1 to 100 characters")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("serials must be unique")
    return cleaned


class _Moving(InputModel):
    model_config = ConfigDict(extra="forbid")

    part_id: uuid.UUID
    quantity: int = Field(ge=1, le=100_000)
    serials: list[SerialNumber] | None = _SERIALS
    reason: str | None = Field(None, min_length=1, max_length=1000)

    @field_validator("serials")
    @classmethod
    def _serials(cls, v: list[str] | None) -> list[str] | None:
        return _unique(v)

    @model_validator(mode="after")
    def _count(self) -> _Moving:
        if self.serials is not None and len(self.serials) != self.quantity:
            raise ValueError("give one serial per unit (len(serials) == quantity)")
        return self


class ReceiptIn(_Moving):
    """Units arriving from a supplier (入库)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "part_id": f"{_ID_EX}21",
                "warehouse_id": f"{_ID_EX}31",
                "quantity": 2,
                "serials": ["21023519310K8000123", "21023519310K8000124"],
                "reason": "采购单 PO-2026-1188",
            }
        },
    )

    warehouse_id: uuid.UUID
    loaner: bool = Field(False, description="Into the loaner pool (备机) instead of stock.")


class ReturnIn(_Moving):
    """A part coming back into stock: unused and good, or defective (旧件返还)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "part_id": f"{_ID_EX}21",
                "warehouse_id": f"{_ID_EX}31",
                "quantity": 1,
                "condition": "defective",
                "serials": ["21023519310K8000123"],
                "ticket_id": f"{_ID_EX}41",
                "reason": "故障件返还 / defective part back",
            }
        },
    )

    warehouse_id: uuid.UUID
    condition: Literal["good", "defective"]
    ticket_id: uuid.UUID | None = None


class ScrapIn(_Moving):
    """Units written off (报废), from good or defective stock."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "part_id": f"{_ID_EX}21",
                "warehouse_id": f"{_ID_EX}31",
                "quantity": 2,
                "source": "defective",
                "reason": "厂商拒修, 报废 / vendor refused repair",
            }
        },
    )

    warehouse_id: uuid.UUID
    source: Literal["good", "defective"] = "good"
    reason: str = Field(min_length=1, max_length=1000)


class AdjustmentIn(InputModel):
    """A count found more (positive) or fewer (negative) units than the balance (盘点)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "part_id": f"{_ID_EX}21",
                "warehouse_id": f"{_ID_EX}31",
                "quantity": -1,
                "reason": "2026年12月盘点少 1 件 / December count: one missing",
            }
        },
    )

    part_id: uuid.UUID
    warehouse_id: uuid.UUID
    quantity: int = Field(ge=-100_000, le=100_000, description="Signed, not zero.")
    serials: list[SerialNumber] | None = _SERIALS
    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("quantity")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("an adjustment moves at least one unit")
        return v

    @field_validator("serials")
    @classmethod
    def _serials(cls, v: list[str] | None) -> list[str] | None:
        return _unique(v)


class TransferIn(_Moving):
    """Units sent to another warehouse (调拨): in transit until received there."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "part_id": f"{_ID_EX}21",
                "from_warehouse_id": f"{_ID_EX}31",
                "to_warehouse_id": f"{_ID_EX}32",
                "quantity": 5,
            }
        },
    )

    from_warehouse_id: uuid.UUID
    to_warehouse_id: uuid.UUID

    @model_validator(mode="after")
    def _ends(self) -> TransferIn:
        if self.from_warehouse_id == self.to_warehouse_id:
            raise ValueError("from_warehouse_id and to_warehouse_id must differ")
        return self


class ReversalIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"reason": "录入错误, 数量应为 2 / entered wrongly, should be 2"}
        },
    )

    reason: str = Field(min_length=1, max_length=1000)


class LevelsIn(InputModel):
    """Reorder point and target level of a part in a warehouse (null clears them)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"reorder_point": 2, "target_level": 6}}
    )

    reorder_point: int | None = Field(None, ge=0, le=1_000_000)
    target_level: int | None = Field(None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _order(self) -> LevelsIn:
        if self.target_level is not None and (
            self.reorder_point is None or self.target_level < self.reorder_point
        ):
            raise ValueError("target_level needs a reorder_point and must not be below it")
        return self


class MovementOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    at: datetime
    kind: str
    part_id: uuid.UUID
    warehouse_id: uuid.UUID
    bucket: str = Field(description="good, defective, in_transit or loaner.")
    quantity: int = Field(description="Signed change of the bucket.")
    unit_cost: Decimal
    serial_id: uuid.UUID | None
    serial_place: str | None
    ticket_id: uuid.UUID | None
    request_id: uuid.UUID | None
    rma_id: uuid.UUID | None
    loan_id: uuid.UUID | None
    batch_id: uuid.UUID
    reverses_id: uuid.UUID | None
    reason: str | None
    actor_name: str


class PostingOut(OutputModel):
    """What one stock operation wrote: its ledger rows (one batch)."""

    batch_id: uuid.UUID
    movements: list[MovementOut]


class BalanceOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    part_id: uuid.UUID
    warehouse_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int
    defective: int
    in_transit: int
    loaners: int
    reorder_point: int | None
    target_level: int | None
    below_reorder: bool
    updated_at: datetime


class PartStockOut(OutputModel):
    """One part in every warehouse that has a balance for it, and the totals."""

    part_id: uuid.UUID
    as_of: datetime | None = Field(None, description="Set when read from the ledger.")
    warehouses: list[BalanceOut | StockAsOfRow]
    totals: dict[str, int]


class StockAsOfRow(OutputModel):
    warehouse_id: uuid.UUID
    on_hand: int
    defective: int
    in_transit: int
    loaners: int


class TransferOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    part_id: uuid.UUID
    from_warehouse_id: uuid.UUID
    to_warehouse_id: uuid.UUID
    quantity: int
    serial_ids: list[str]
    state: str
    reason: str | None
    shipped_at: datetime
    received_at: datetime | None
    created_by: str


class SerialPlaceOut(OutputModel):
    place: str = Field(description="warehouse, in_transit, customer, vendor or scrapped.")
    condition: str | None
    warehouse_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    device_id: uuid.UUID | None
    since: datetime | None = Field(description="When it got there (its ledger row).")


class SerialOut(OutputModel):
    id: uuid.UUID
    part_id: uuid.UUID
    serial: str
    loaner: bool
    reserved: bool
    place: SerialPlaceOut = Field(description="Where it is now, or `as_of` the instant asked.")
    as_of: datetime | None
    history: list[MovementOut] | None = Field(None, description="With `history=true`.")


class SerialList(OutputModel):
    """Every serial of that number (one per part number that has it)."""

    items: list[SerialOut]
