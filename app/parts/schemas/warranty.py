"""The warranty decision (保修判定) as the API shows it, on a device and on an RMA."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.outputs import OutputModel

WARRANTY_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-03-02",
    "device_id": "0192f3c4-0000-7000-8000-000000000030",
    "install_date": "2025-06-18",
    "warranty_end": "2028-06-17",
    "in_warranty": True,
    "under_contract": True,
    "contract_id": "0192f3c4-0000-7000-8000-000000000040",
    "contract_number": "HT-2026-0031",
    "service_level": "7x24",
    "basis": "both",
}


class WarrantyOut(OutputModel):
    """Whether a device is in its manufacturer's warranty and under a service contract
    on `as_of`. `basis` says which of the two covers it: both, only one, or none."""

    model_config = ConfigDict(from_attributes=True,
                              json_schema_extra={"example": WARRANTY_EXAMPLE})  # fmt: skip

    as_of: date
    device_id: uuid.UUID | None
    install_date: date | None
    warranty_end: date | None
    in_warranty: bool = Field(
        description="install_date <= as_of <= warranty_end (no warranty_end: false)."
    )
    under_contract: bool
    contract_id: uuid.UUID | None
    contract_number: str | None
    service_level: str | None
    basis: Literal["both", "warranty", "contract", "none"]
