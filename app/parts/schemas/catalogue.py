"""The parts catalogue (备件目录) and warehouses (仓库): requests and replies, and the
order in which a branch looks for stock (warehouse ranks)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

_ID_EX = "0192f3c4-0000-7000-8000-0000000000"
_CENT = Decimal("0.01")
Lifecycle = Literal["active", "discontinued"]
WarehouseKind = Literal["central", "regional", "branch", "customer_site"]

_UNIT_COST = (
    "Cost of one unit, at most 12 digits before the point and 2 after, not negative. "
    "Sent as a JSON number or a decimal string; always answered as a decimal string with "
    'two places ("1280.00"), so that no client rounds it through a float.'
)
_CURRENCY = "ISO 4217 code, three capitals."
_FITS = (
    "Product families (and optionally one model of a family; '' or absent for every "
    "model) the part fits; each family must be active. Replaces the whole list on "
    "update; repeated entries are merged. At most 200."
)
_SUBSTITUTE = (
    "The part that replaces this one (替代料): must exist, not be this part, and not lead "
    "back to this part through its own substitutes."
)
_ALTERNATIVE = "A stated alternative (替代方案) when there is no substitute part."


def _cents(value: Decimal | None) -> Decimal | None:
    # Two places always, so the answer of a create equals that of a later read.
    return None if value is None else value.quantize(_CENT)


class PartFitIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    product_family: str = Field(min_length=1, max_length=64)
    model: str = Field("", max_length=100, description="'' for every model of the family.")


class _PartFields(InputModel):
    @field_validator("unit_cost", check_fields=False)
    @classmethod
    def _unit_cost(cls, value: Decimal | None) -> Decimal | None:
        return _cents(value)


class PartCreate(_PartFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "number": "02312SHD",
                "name": "1000W交流电源模块",
                "name_en": "1000W AC power module",
                "description": "S12700系列交换机用交流电源模块",
                "unit_cost": "1280.00",
                "currency": "CNY",
                "serialised": True,
                "lifecycle": "active",
                "fits": [
                    {"product_family": "switch", "model": "S12700"},
                    {"product_family": "router", "model": ""},
                ],
            }
        },
    )

    number: str = Field(min_length=1, max_length=64, description="Part number, unique.")
    name: str = Field(min_length=1, max_length=200, description="Name in Chinese (zh-CN).")
    name_en: str | None = Field(None, max_length=200)
    description: Text | None = Field(None, max_length=4000)
    unit_cost: Decimal = Field(
        Decimal("0.00"), ge=0, max_digits=14, decimal_places=2, description=_UNIT_COST
    )
    currency: str | None = Field(
        None,
        pattern="^[A-Z]{3}$",
        description=f"{_CURRENCY} Absent: the configured parts currency (PARTS_CURRENCY).",
    )
    serialised: bool = Field(False, description="Every unit carries a serial number.")
    lifecycle: Lifecycle = Field(
        "active", description="discontinued (停产) needs substitute_id or alternative."
    )
    substitute_id: uuid.UUID | None = Field(None, description=_SUBSTITUTE)
    alternative: Text | None = Field(None, min_length=1, max_length=1000, description=_ALTERNATIVE)
    fits: list[PartFitIn] = Field(default_factory=list, max_length=200, description=_FITS)


class PartUpdate(_PartFields):
    """Only what is sent changes. `serialised` cannot change once the part has stock or
    serials (409)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "lifecycle": "discontinued",
                "substitute_id": f"{_ID_EX}22",
                "unit_cost": "1350.00",
            }
        },
    )

    number: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    description: Text | None = Field(None, max_length=4000)
    unit_cost: Decimal | None = Field(
        None, ge=0, max_digits=14, decimal_places=2, description=_UNIT_COST
    )
    currency: str | None = Field(None, pattern="^[A-Z]{3}$", description=_CURRENCY)
    serialised: bool | None = None
    lifecycle: Lifecycle | None = None
    substitute_id: uuid.UUID | None = Field(None, description=_SUBSTITUTE)
    alternative: Text | None = Field(None, min_length=1, max_length=1000, description=_ALTERNATIVE)
    fits: list[PartFitIn] | None = Field(None, max_length=200, description=_FITS)


class PartFitOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    product_family: str
    model: str = Field(description="'' for every model of the family.")


class PartRef(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    name: str


class PartOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": f"{_ID_EX}21",
                "number": "02312SHD",
                "name": "1000W交流电源模块",
                "name_en": "1000W AC power module",
                "description": None,
                "unit_cost": "1280.00",
                "currency": "CNY",
                "serialised": True,
                "lifecycle": "discontinued",
                "substitute_id": f"{_ID_EX}22",
                "alternative": None,
                "substitute": {"id": f"{_ID_EX}22", "number": "02312SHE", "name": "1200W电源"},
                "fits": [{"product_family": "switch", "model": "S12700"}],
                "version": 2,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-05T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    number: str
    name: str
    name_en: str | None
    description: str | None
    unit_cost: Decimal = Field(description=_UNIT_COST)
    currency: str
    serialised: bool
    lifecycle: str = Field(description="active or discontinued.")
    substitute_id: uuid.UUID | None
    alternative: str | None
    substitute: PartRef | None = Field(description="The substitute part, or null.")
    fits: list[PartFitOut]
    version: int
    created_at: datetime
    updated_at: datetime


# -- Warehouses


class WarehouseCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "WH-SH-01",
                "name": "上海分公司备件库",
                "name_en": "Shanghai branch depot",
                "kind": "branch",
                "branch_id": f"{_ID_EX}01",
                "address": "上海市浦东新区张江路 88 号 B1",
            }
        },
    )

    code: str = Field(min_length=1, max_length=32, description="Unique.")
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    kind: WarehouseKind = Field(
        description="central, regional, branch, or customer_site (本地备件库, kept at a "
        "customer under a contract, serving that contract only)."
    )
    branch_id: uuid.UUID = Field(description="The branch that runs it (fixed once made).")
    contract_id: uuid.UUID | None = Field(
        None,
        description="Required for a customer_site warehouse, refused for other kinds: the "
        "contract whose customer belongs to branch_id (fixed once made).",
    )
    address: str = Field(min_length=1, max_length=500)


class WarehouseUpdate(InputModel):
    """kind, branch_id and contract_id are fixed: sending another value is a 422."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"address": "上海市浦东新区张江路 99 号", "active": False}},
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    address: str | None = Field(None, min_length=1, max_length=500)
    active: bool | None = Field(None, description="false: no longer searched for stock.")
    kind: WarehouseKind | None = Field(None, description="Fixed: only the current value.")
    branch_id: uuid.UUID | None = Field(None, description="Fixed: only the current value.")
    contract_id: uuid.UUID | None = Field(None, description="Fixed: only the current value.")


class WarehouseOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": f"{_ID_EX}31",
                "code": "WH-SH-01",
                "name": "上海分公司备件库",
                "name_en": "Shanghai branch depot",
                "kind": "branch",
                "branch_id": f"{_ID_EX}01",
                "contract_id": None,
                "address": "上海市浦东新区张江路 88 号 B1",
                "active": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    code: str
    name: str
    name_en: str | None
    kind: str
    branch_id: uuid.UUID
    contract_id: uuid.UUID | None
    address: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# -- The order in which a branch looks for stock


class WarehouseOrderIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"warehouse_ids": [f"{_ID_EX}31", f"{_ID_EX}32"]}},
    )

    warehouse_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=500,
        description="Active warehouses other than customer-site ones, nearest first; "
        "warehouses not listed are not searched for this branch.",
    )

    @field_validator("warehouse_ids")
    @classmethod
    def _unique(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("warehouse_ids must be unique")
        return value


class WarehouseRankOut(OutputModel):
    warehouse_id: uuid.UUID
    code: str
    name: str
    kind: str
    branch_id: uuid.UUID
    active: bool = Field(description="An inactive warehouse keeps its rank but is skipped.")
    rank: int = Field(description="1 or more; lower is searched first.")


class WarehouseOrderOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "branch_id": f"{_ID_EX}01",
                "items": [
                    {
                        "warehouse_id": f"{_ID_EX}31",
                        "code": "WH-SH-01",
                        "name": "上海分公司备件库",
                        "kind": "branch",
                        "branch_id": f"{_ID_EX}01",
                        "active": True,
                        "rank": 10,
                    },
                    {
                        "warehouse_id": f"{_ID_EX}32",
                        "code": "WH-CN-HQ",
                        "name": "中央备件库",
                        "kind": "central",
                        "branch_id": f"{_ID_EX}02",
                        "active": True,
                        "rank": 30,
                    },
                ],
            }
        },
    )

    branch_id: uuid.UUID
    items: list[WarehouseRankOut] = Field(
        description="Nearest first. Customer-site warehouses never appear: they serve "
        "their contract only, before any of these."
    )
