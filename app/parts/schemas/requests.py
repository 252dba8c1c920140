"""Part requests (备件申请) on tickets: requests and replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

_ID_EX = "0192f3c4-0000-7000-8000-0000000000"


class RequestLineIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    part_id: uuid.UUID
    quantity: int = Field(1, ge=1, le=1000)
    warehouse_id: uuid.UUID | None = Field(
        None, description="Reserve in this warehouse; by default the nearest one with stock."
    )
    serials: list[str] | None = Field(
        None, max_length=1000, description="Reserve these serials (a serialised part)."
    )
    use_substitute: bool = Field(
        False,
        description="The part is discontinued: take its substitute instead (without it, "
        "a discontinued part answers 409 proposing the substitute).",
    )

    @field_validator("serials")
    @classmethod
    def _serials(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        v = [s.strip() for s in v]
        if any(not s or len(s) > 100 for s in v) or len(set(v)) != len(v):
            raise ValueError("serials: unique, 1 to 100 characters each")
        return v

    @model_validator(mode="after")
    def _count(self) -> RequestLineIn:
        if self.serials is not None and len(self.serials) != self.quantity:
            raise ValueError("give one serial per unit (len(serials) == quantity)")
        return self


class PartRequestCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "lines": [{"part_id": f"{_ID_EX}21", "quantity": 1}],
                "destination": "site",
                "note": "主控板故障，需更换 / main control board failed",
                "wait_for_parts": True,
            }
        },
    )

    lines: list[RequestLineIn] = Field(min_length=1, max_length=20)
    destination: Literal["site", "engineer"] = "site"
    engineer_id: uuid.UUID | None = Field(None, description="Required for destination engineer.")
    address: str | None = Field(None, min_length=1, max_length=500)
    note: str | None = Field(None, min_length=1, max_length=2000)
    wait_for_parts: bool = Field(
        False, description="Put the ticket in waiting_parts (from in_progress)."
    )

    @model_validator(mode="after")
    def _check(self) -> PartRequestCreate:
        if self.destination == "engineer" and self.engineer_id is None:
            raise ValueError("destination engineer needs engineer_id")
        parts = [ln.part_id for ln in self.lines]
        if len(set(parts)) != len(parts):
            raise ValueError("a part appears on two lines: give it once with its quantity")
        return self


class StepIn(InputModel):
    """A step of a request, with an optional note."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"note": "顺丰同城急送, 单号 SF1234567890"}}
    )

    note: str | None = Field(None, min_length=1, max_length=2000)


class FitIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"note": "已更换主控板, 旧件带回", "return_expected": True}},
    )

    note: str | None = Field(None, min_length=1, max_length=2000)
    return_expected: bool = Field(
        True, description="The defective part comes back (a timer waits for it)."
    )


class DefectiveReturnIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"warehouse_id": f"{_ID_EX}31", "serials": ["21023519310K8000999"]}
        },
    )

    warehouse_id: uuid.UUID
    serials: list[str] | None = Field(
        None, max_length=1000, description="Serials of the defective units taken off."
    )
    note: str | None = Field(None, min_length=1, max_length=2000)


class ReservationOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    warehouse_id: uuid.UUID
    serial_id: uuid.UUID | None
    quantity: int
    state: str


class PartRequestOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    ticket_id: uuid.UUID
    branch_id: uuid.UUID
    part_id: uuid.UUID
    requested_part_id: uuid.UUID | None = Field(
        description="The discontinued part asked for, when its substitute was taken."
    )
    quantity: int
    warehouse_id: uuid.UUID
    destination: str
    engineer_id: uuid.UUID | None
    address: str | None
    state: str = Field(
        description="awaiting_approval, approved, rejected, dispatched, delivered, fitted, "
        "closed or cancelled."
    )
    value: Decimal
    currency: str
    approval_reasons: list[str]
    approved_by: str | None
    approved_at: datetime | None
    decision_note: str | None
    warranty: dict[str, Any] = Field(description="The warranty decision the request used.")
    due_at: datetime | None = Field(description="On site by then (the part-on-site SLA).")
    dispatched_at: datetime | None
    delivered_at: datetime | None
    fitted_at: datetime | None
    return_due_at: datetime | None
    returned_at: datetime | None
    ended_at: datetime | None
    note: str | None
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
    reservations: list[ReservationOut] = Field(default_factory=list)


class PartRequestList(OutputModel):
    items: list[PartRequestOut]
