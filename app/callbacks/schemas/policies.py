"""Requests and answers of callback policies: when a resolution callback is due, how it
is retried, and when a silent resolved ticket closes (the default, and per customer)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

_EXAMPLE: dict[str, Any] = {
    "enabled": True,
    "calendar_id": "01a20a8b-77d6-7001-8b36-4d5701a3307d",
    "local_time": "10:00",
    "after_business_days": 1,
    "max_attempts": 3,
    "retry_minutes": 120,
    "on_exhausted": "close",
    "silence_business_days": 3,
}


class CallbackPolicyIn(InputModel):
    """The whole policy (PUT replaces it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": _EXAMPLE})

    enabled: bool = Field(description="Schedule a callback when a ticket is resolved.")
    calendar_id: uuid.UUID = Field(
        description="The customer's business calendar: what a business day is, and the "
        "time zone of `local_time`."
    )
    local_time: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="When on the day the callback is due (HH:MM, local to the calendar).",
    )
    after_business_days: int = Field(
        ge=0, le=30,
        description="The callback's day: this many business days after the resolution "
        "(0: the same day if `local_time` is still ahead).",
    )  # fmt: skip
    max_attempts: int = Field(ge=1, le=20, description="Calls tried before giving up.")
    retry_minutes: int = Field(
        ge=5, le=10080,
        description="After no answer, the next try this much later (moved to the next "
        "working instant of the calendar when that is outside its hours).",
    )  # fmt: skip
    on_exhausted: Literal["close", "leave_open"] = Field(
        description="When every try went unanswered: close the ticket as unreachable "
        "(`closed_unreachable`), or leave it resolved until it closes on silence."
    )
    silence_business_days: int = Field(
        ge=1, le=60,
        description="A resolved ticket whose reporter neither confirms nor answers closes "
        "(`closed_by_silence`) this many business days after its resolution.",
    )  # fmt: skip


class CallbackPolicyOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "customer_id": None,
                "inherited": False,
                **_EXAMPLE,
                "version": 1,
                "updated_at": "2026-03-02T02:00:00Z",
            }
        }
    )

    customer_id: uuid.UUID | None = Field(description="null: the default policy.")
    inherited: bool = Field(
        description="true: the customer has no policy of its own and the default applies "
        '(its ETag is version 0: a PUT with If-Match W/"0" creates the customer\'s own).'
    )
    enabled: bool
    calendar_id: uuid.UUID
    local_time: str
    after_business_days: int
    max_attempts: int
    retry_minutes: int
    on_exhausted: Literal["close", "leave_open"]
    silence_business_days: int
    version: int
    updated_at: datetime
