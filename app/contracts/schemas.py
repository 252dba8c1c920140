"""Service contract (维保合同) requests and replies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel
from app.devices.schemas import DeviceOut

ContractStatus = Literal["active", "expired", "suspended"]


class ContractCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "number": "HT-2026-SH-0042",
                "service_level": "7x24",
                "starts_on": "2026-01-01",
                "ends_on": "2028-12-31",
                "status": "active",
                "notes": "含备件先行更换, 每季度巡检一次",
            }
        },
    )

    customer_id: uuid.UUID
    number: str = Field(min_length=1, max_length=64, description="Contract number, unique.")
    service_level: str = Field(min_length=1, max_length=64, description="An active level code.")
    starts_on: date
    ends_on: date = Field(description="Last day of cover (inclusive); not before starts_on.")
    status: ContractStatus = "active"
    notes: Text | None = Field(None, max_length=4000)

    @field_validator("ends_on")
    @classmethod
    def _dates(cls, value: date, info: ValidationInfo) -> date:
        starts = info.data.get("starts_on")
        if starts is not None and value < starts:
            raise ValueError("ends_on must not be before starts_on")
        return value


class ContractUpdate(InputModel):
    """The customer is fixed: a contract with another customer is another contract."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"ends_on": "2029-12-31", "status": "suspended"}},
    )

    number: str | None = Field(None, min_length=1, max_length=64)
    service_level: str | None = Field(None, min_length=1, max_length=64)
    starts_on: date | None = None
    ends_on: date | None = None
    status: ContractStatus | None = None
    notes: Text | None = Field(None, max_length=4000)


class ContractOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-000000000040",
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "number": "HT-2026-SH-0042",
                "service_level": "7x24",
                "starts_on": "2026-01-01",
                "ends_on": "2028-12-31",
                "status": "active",
                "recorded_status": "active",
                "notes": "含备件先行更换, 每季度巡检一次",
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    customer_id: uuid.UUID
    number: str
    service_level: str
    starts_on: date
    ends_on: date
    status: ContractStatus = Field(
        description="Effective status: 'expired' once ends_on is past, whatever was recorded "
        "(nobody has to run a job on the expiry day for the API to tell the truth)."
    )
    recorded_status: ContractStatus = Field(
        description="The status as last written (what PATCH status changes)."
    )
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ContractDevicesReplace(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "device_ids": [
                    "0192f3c4-0000-7000-8000-000000000030",
                    "0192f3c4-0000-7000-8000-000000000031",
                ]
            }
        },
    )

    device_ids: list[uuid.UUID] = Field(
        max_length=1000,
        description="The complete set of covered devices (replaces the previous set; "
        "duplicates are ignored). Every device must belong to the contract's customer.",
    )


class ContractDevicesOut(OutputModel):
    contract_id: uuid.UUID
    version: int = Field(description="The contract's version (its ETag).")
    devices: list[DeviceOut]
