"""Requests and answers of contact plans: periodic proactive calls to a key customer
(定期主动式电话支持), each due date a callback of its own."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from app.callbacks.schemas.instants import Instant
from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

_ID = "0192f3c4-0000-7000-8000-00000000b001"
_CUSTOMER = "0192f3c4-0000-7000-8000-000000000010"
_CONTACT = "0192f3c4-0000-7000-8000-000000000011"
_AGENT = "0192f3c4-0000-7000-8000-00000000a001"


class ContactPlanCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": _CUSTOMER,
                "contact_id": _CONTACT,
                "agent_id": _AGENT,
                "every_weeks": 4,
                "first_due_at": "2026-03-10T02:00:00Z",
                "note": "季度保障期重点客户, 每四周电话回访设备运行情况",
            }
        },
    )

    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(None, description="A contact of the customer.")
    agent_id: uuid.UUID | None = Field(
        None, description="Who calls (an identity that makes callbacks); null: anyone."
    )
    every_weeks: int = Field(ge=1, le=52)
    first_due_at: Instant = Field(
        description="The first call, from now to 365 days ahead; the next ones follow "
        "every `every_weeks` weeks at the same time (a day off moves a call, not the plan)."
    )
    note: Text | None = Field(None, max_length=4000, description="What the calls are for.")


class ContactPlanUpdate(InputModel):
    """A field left out is unchanged."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"every_weeks": 2, "next_due_at": "2026-03-24T02:00:00Z"}},
    )

    contact_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    every_weeks: int | None = Field(None, ge=1, le=52)
    next_due_at: Instant | None = Field(None, description="From now to 365 days ahead.")
    active: bool | None = Field(None, description="false: no further calls are planned.")
    note: Text | None = Field(None, max_length=4000)


class ContactPlanOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ID,
                "branch_id": "0192f3c4-0000-7000-8000-000000000002",
                "customer_id": _CUSTOMER,
                "contact_id": _CONTACT,
                "agent_id": _AGENT,
                "every_weeks": 4,
                "next_due_at": "2026-03-10T02:00:00Z",
                "active": True,
                "note": "季度保障期重点客户, 每四周电话回访设备运行情况",
                "version": 1,
                "created_at": "2026-03-02T02:00:00Z",
                "updated_at": "2026-03-02T02:00:00Z",
            }
        }
    )

    id: uuid.UUID
    branch_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    every_weeks: int
    next_due_at: datetime = Field(description="The next planned call.")
    active: bool
    note: str | None
    version: int
    created_at: datetime
    updated_at: datetime
