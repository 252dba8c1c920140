"""SLA request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel
from app.core.outputs import OutputModel

Metric = Literal["first_response", "onsite", "part_onsite", "resolution"]
Priority = Literal["P1", "P2", "P3", "P4"]
ClockStatus = Literal["running", "paused", "met", "breached", "cancelled"]


class ClockBrief(OutputModel):
    """A clock as the ticket shows it."""

    metric: Metric
    status: ClockStatus = Field(
        description="running or paused while it counts; met, breached or cancelled once "
        "stopped. A clock shows breached from the moment its breach is announced (by its "
        "timer at the due time, or by a change that finds it late), running or not."
    )
    target_seconds: int
    warn_at: datetime | None = Field(description="Null while paused or once stopped.")
    due_at: datetime | None = Field(description="Null while paused or once stopped.")
    breached_at: datetime | None


class SegmentOut(OutputModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Literal["running", "paused"]
    reason: str = Field(description="created, resumed, reopened, recomputed, waiting_customer, ...")
    started_at: datetime
    ended_at: datetime | None
    business_seconds: int | None = Field(
        None, description="Business time of a running segment on the clock's calendar."
    )


class ClockOut(OutputModel):
    """One SLA target on a ticket, with its history: why it stands where it stands."""

    id: uuid.UUID
    metric: Metric
    status: ClockStatus
    state: Literal["running", "paused", "stopped"]
    outcome: Literal["met", "breached", "cancelled"] | None
    target_seconds: int
    calendar_id: uuid.UUID
    warn_percent: int
    started_at: datetime
    warn_at: datetime | None
    due_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    used_seconds: int = Field(description="Business seconds used so far (paused time excluded).")
    remaining_seconds: int = Field(description="Negative once past due.")
    segments: list[SegmentOut]


_TARGETS_EXAMPLE: dict[str, Any] = {
    "targets": [
        {"priority": "P1", "metric": "first_response", "minutes": 30, "calendar_code": "24x7"},
        {"priority": "P1", "metric": "resolution", "minutes": 240, "calendar_code": "24x7"},
        {
            "priority": "P4",
            "metric": "first_response",
            "minutes": 540,
            "calendar_code": "cn-5x8",
            "warn_percent": 80,
        },
    ]
}


class TargetIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    priority: Priority
    metric: Metric
    minutes: int = Field(gt=0, le=60 * 24 * 366, description="Business minutes.")
    calendar_code: str = Field(min_length=1, max_length=32)
    warn_percent: int = Field(75, ge=1, le=99)


class TargetOut(OutputModel):
    priority: Priority
    metric: Metric
    minutes: int
    calendar_id: uuid.UUID
    calendar_code: str
    warn_percent: int


class SlaPolicyCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"service_level": "gold", "name": "金牌服务承诺", "name_en": "Gold",
                        **_TARGETS_EXAMPLE}
        },
    )  # fmt: skip

    service_level: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    pause_on_vendor: bool = False
    auto_assign: bool = Field(
        False, description="Assign new tickets at once to an engineer on duty (app/assignment)."
    )
    targets: list[TargetIn] = Field(min_length=1)


class SlaPolicyUpdate(InputModel):
    """Changes apply to tickets created (or re-prioritised) afterwards; running clocks
    keep the targets they started with until their ticket's priority or level changes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"pause_on_vendor": True, **_TARGETS_EXAMPLE}},
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    pause_on_vendor: bool | None = None
    auto_assign: bool | None = None
    active: bool | None = None
    targets: list[TargetIn] | None = Field(None, min_length=1, description="Replaces all.")


class SlaPolicyOut(OutputModel):
    id: uuid.UUID
    service_level: str
    name: str
    name_en: str | None
    pause_on_vendor: bool
    auto_assign: bool = False
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    targets: list[TargetOut]
