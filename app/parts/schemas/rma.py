"""RMA (返修) requests and replies: the return authorisation, its steps and its list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel
from app.parts.models import RMA_STATES
from app.parts.schemas.warranty import WARRANTY_EXAMPLE, WarrantyOut

_ID = "0192f3c4-0000-7000-8000-0000000000"
RmaState = Literal[
    "authorised", "received", "in_repair", "repaired", "replaced", "rejected", "shipped_back",
    "closed", "expired", "cancelled",
]  # fmt: skip
assert set(get_args(RmaState)) == set(RMA_STATES)


class RmaCreate(InputModel):
    """A device going back (no stock moves), or a part: a serialised one by its serial
    (known or not yet), a non-serialised one by quantity."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "ticket_id": f"{_ID}01",
                "part_id": f"{_ID}21",
                "serial": "21023519310K8000123",
                "reason": "电源模块输出电压异常,现场更换后返厂检测",
                "vendor": "华为技术有限公司",
                "validity_days": 30,
                "warehouse_id": f"{_ID}31",
            }
        },
    )

    ticket_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = Field(None, description="A customer's device going back.")
    part_id: uuid.UUID | None = Field(None, description="A part going back (with `serial` "
                                      "for a serialised part, else `quantity`).")  # fmt: skip
    serial: str | None = Field(None, min_length=1, max_length=100)
    quantity: int | None = Field(None, ge=1, le=100_000,
                                 description="Units of a non-serialised part (default 1).")  # fmt: skip
    reason: Text = Field(min_length=1, max_length=2000)
    vendor: str | None = Field(None, min_length=1, max_length=200)
    validity_days: int | None = Field(
        None, ge=1, le=365, description="How long the authorisation is valid (RMA_VALIDITY_DAYS)."
    )
    warehouse_id: uuid.UUID | None = Field(None, description="Where it will be received.")

    @model_validator(mode="after")
    def _subject(self) -> RmaCreate:
        if (self.device_id is None) == (self.part_id is None):
            raise ValueError("give either device_id or part_id")
        if self.device_id is not None and (self.serial is not None or self.quantity is not None):
            raise ValueError("serial and quantity are for a part, not a device")
        if self.serial is not None and self.quantity not in (None, 1):
            raise ValueError("a serial is one unit (quantity 1)")
        return self


class RmaReceiveBody(InputModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"example": {"warehouse_id": f"{_ID}31"}})  # fmt: skip

    warehouse_id: uuid.UUID | None = Field(
        None, description="Where it arrives; the RMA's warehouse unless given (a part needs one)."
    )
    note: Text | None = Field(None, min_length=1, max_length=2000)


class RmaSendBody(InputModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"example": {"vendor": "华为技术有限公司"}})  # fmt: skip

    vendor: str | None = Field(None, min_length=1, max_length=200,
                               description="The RMA's vendor unless given (one is needed).")  # fmt: skip
    note: Text | None = Field(None, min_length=1, max_length=2000)


class RmaNoteBody(InputModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"example": {"note": "厂家检测后更换电容,已修复"}})  # fmt: skip

    note: Text | None = Field(None, min_length=1, max_length=2000)


class RmaReplacedBody(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"replacement_serial": "21023519310K8000999",
                                       "note": "厂家以新件替换"}},
    )  # fmt: skip

    replacement_serial: str | None = Field(
        None, min_length=1, max_length=100,
        description="The new unit's serial: required for a serialised part, refused for a "
        "non-serialised one, optional for a device.",
    )  # fmt: skip
    note: Text | None = Field(None, min_length=1, max_length=2000)


class RmaRejectedBody(InputModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"example": {"note": "人为损坏,不在保修范围"}})  # fmt: skip

    note: Text = Field(min_length=1, max_length=2000)


class RmaStep(OutputModel):
    at: datetime
    action: str
    state: RmaState
    actor: str
    actor_id: uuid.UUID | None = None
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


_EXAMPLE: dict[str, Any] = {
    "id": f"{_ID}51",
    "number": "RMA2026-000001",
    "branch_id": f"{_ID}61",
    "customer_id": f"{_ID}10",
    "ticket_id": f"{_ID}01",
    "device_id": None,
    "part_id": f"{_ID}21",
    "serial": "21023519310K8000123",
    "serial_id": f"{_ID}71",
    "quantity": 1,
    "replacement_serial": None,
    "replacement_serial_id": None,
    "warehouse_id": f"{_ID}31",
    "vendor": "华为技术有限公司",
    "reason": "电源模块输出电压异常,现场更换后返厂检测",
    "warranty": WARRANTY_EXAMPLE,
    "state": "received",
    "expires_at": "2026-04-01T08:00:00Z",
    "received_at": "2026-03-05T08:00:00Z",
    "closed_at": None,
    "history": [
        {"at": "2026-03-02T08:00:00Z", "action": "create", "state": "authorised",
         "actor": "王磊", "actor_id": f"{_ID}81", "note": None, "data": {}},
        {"at": "2026-03-05T08:00:00Z", "action": "receive", "state": "received",
         "actor": "仓库管理员", "actor_id": f"{_ID}82", "note": None,
         "data": {"warehouse_id": f"{_ID}31"}},
    ],
    "allowed_actions": ["send-to-vendor"],
    "created_by": "王磊",
    "version": 2,
    "created_at": "2026-03-02T08:00:00Z",
    "updated_at": "2026-03-05T08:00:00Z",
}  # fmt: skip


class RmaOut(OutputModel):
    model_config = ConfigDict(json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    number: str
    branch_id: uuid.UUID
    customer_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    device_id: uuid.UUID | None
    part_id: uuid.UUID | None
    serial: str | None
    serial_id: uuid.UUID | None
    quantity: int
    replacement_serial: str | None
    replacement_serial_id: uuid.UUID | None
    warehouse_id: uuid.UUID | None
    vendor: str | None
    reason: str
    warranty: WarrantyOut = Field(description="The warranty decision the RMA was authorised under.")
    state: RmaState
    expires_at: datetime = Field(description="Expires then if nothing has been received.")
    received_at: datetime | None
    closed_at: datetime | None
    history: list[RmaStep]
    allowed_actions: list[str] = Field(description="The steps possible now (path names).")
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
