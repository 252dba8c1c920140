"""Requests and answers of the loaner pool and of loans (备机借用)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

_ID = "0192f3c4-0000-7000-8000-00000000d001"
LoanState = Literal["out", "returned", "sold", "written_off"]


class LoanerPoolIn(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"serial_id": _ID, "join": True}}
    )

    serial_id: uuid.UUID = Field(description="A serial in stock in a warehouse of the key.")
    join: bool = Field(
        description="true: the good unit joins the warehouse's loaner pool (no longer "
        "available to part requests); false: a loaner in the warehouse goes back to "
        "ordinary good stock."
    )


class LoanerPoolOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "serial_id": _ID,
                "serial": "2102351931P0K8000555",
                "part_id": _ID,
                "warehouse_id": _ID,
                "loaner": True,
                "changed": True,
                "on_hand": 4,
                "reserved": 1,
                "loaners": 2,
            }
        }
    )

    serial_id: uuid.UUID
    serial: str
    part_id: uuid.UUID
    warehouse_id: uuid.UUID
    loaner: bool = Field(description="Whether the unit is in the loaner pool now.")
    changed: bool = Field(description="false: it was there already, nothing was posted.")
    on_hand: int = Field(description="Good units of the part in the warehouse, after.")
    reserved: int
    loaners: int = Field(description="Loaner units of the part in the warehouse, after.")


class LoanCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "serial_id": _ID,
                "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
                "due_back_on": "2026-03-16",
                "note": "主控板返修期间借用备机,客户张工签收",
            }
        },
    )

    serial_id: uuid.UUID = Field(description="A loaner unit in the pool of a warehouse.")
    ticket_id: uuid.UUID = Field(description="The open ticket it is lent against.")
    due_back_on: date = Field(
        description="The date (Asia/Shanghai) it is due back: today to 365 days ahead."
    )
    note: Text | None = Field(None, max_length=2000)


class LoanReturnIn(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"warehouse_id": _ID, "condition": "good"}},
    )

    warehouse_id: uuid.UUID = Field(description="Where it comes back (any warehouse of the key).")
    condition: Literal["good", "defective"] = Field(
        description="good: back into the warehouse's loaner pool; defective: into its "
        "defective stock, out of the pool (it may join again once repaired)."
    )


class LoanSellIn(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"note": "客户决定购买该备机,合同HT-0042"}}
    )

    note: Text | None = Field(None, max_length=1000)


class LoanWriteOffIn(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"reason": "客户现场丢失,已报备"}}
    )

    reason: Text = Field(min_length=1, max_length=1000)


class LoanUpdate(InputModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"due_back_on": "2026-03-30"}}
    )

    due_back_on: date = Field(
        description="A later due-back date (Asia/Shanghai), at most 365 days from today."
    )


class LoanOut(OutputModel):
    """Who holds which loaner, since when, and when it is due back."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ID,
                "serial_id": _ID,
                "serial": "2102351931P0K8000555",
                "part_id": _ID,
                "part_number": "02312PWM",
                "warehouse_id": _ID,
                "customer_id": "0192f3c4-0000-7000-8000-000000000010",
                "ticket_id": "0192f3c4-0000-7000-8000-000000000001",
                "branch_id": "0192f3c4-0000-7000-8000-000000000002",
                "state": "out",
                "lent_at": "2026-03-02T08:00:00Z",
                "due_back_on": "2026-03-16",
                "overdue": False,
                "note": "主控板返修期间借用备机",
                "ended_at": None,
                "returned_to_id": None,
                "return_condition": None,
                "end_reason": None,
                "ended_by": None,
                "reminded_at": None,
                "overdue_noticed_at": None,
                "created_by": "王磊",
                "version": 1,
                "updated_at": "2026-03-02T08:00:00Z",
            }
        }
    )

    id: uuid.UUID
    serial_id: uuid.UUID
    serial: str = Field(description="The unit's serial number.")
    part_id: uuid.UUID
    part_number: str
    warehouse_id: uuid.UUID = Field(description="The warehouse it was lent from.")
    customer_id: uuid.UUID = Field(description="Who holds it (the ticket's customer).")
    ticket_id: uuid.UUID
    branch_id: uuid.UUID
    state: LoanState
    lent_at: datetime
    due_back_on: date
    overdue: bool = Field(description="Still out after its due-back date (dates in Asia/Shanghai).")
    note: str | None
    ended_at: datetime | None
    returned_to_id: uuid.UUID | None
    return_condition: Literal["good", "defective"] | None
    end_reason: str | None = Field(description="Why written off, or the note of the sale.")
    ended_by: str | None
    reminded_at: datetime | None = Field(description="When the due-soon reminder went out.")
    overdue_noticed_at: datetime | None = Field(description="When it was noticed overdue.")
    created_by: str
    version: int
    updated_at: datetime
