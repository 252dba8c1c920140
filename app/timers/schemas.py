"""What the timers administration API (/v1/timers) shows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.core.outputs import OutputModel

TimerState = Literal["pending", "fired", "cancelled", "dead"]

_TIMER_EXAMPLE: dict[str, Any] = {
    "id": "0192f3c4-5b6a-7c8d-9e0f-1a2b3c4d5e6f",
    "kind": "sla.clock",
    "subject_id": "0192f3c4-0000-7000-8000-000000000001",
    "state": "dead",
    "due_at": "2026-03-02T08:30:00Z",
    "fire_at": "2026-03-02T08:51:15Z",
    "version": 2,
    "attempts": 8,
    "last_error": "ConnectionDoesNotExistError: connection was closed in the middle of operation",
    "fired_at": None,
    "created_at": "2026-03-02T06:30:00Z",
    "updated_at": "2026-03-02T08:51:15Z",
}


class TimerOut(OutputModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _TIMER_EXAMPLE})

    id: uuid.UUID
    kind: str = Field(description="What firing does, e.g. sla.clock (a clock's warning/breach).")
    subject_id: uuid.UUID = Field(description="What it is about (for sla.clock: the clock).")
    state: TimerState
    due_at: datetime = Field(description="When the rule wants it to fire.")
    fire_at: datetime = Field(
        description="When a worker next tries: the due time, or later while a failed firing "
        "backs off."
    )
    version: int = Field(description="Bumped whenever the timer is moved, cancelled or re-armed.")
    attempts: int = Field(description="Failed firings of this version in a row.")
    last_error: str | None = Field(description="The most recent handler failure.")
    fired_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TimerStateCounts(OutputModel):
    pending: int
    fired: int
    cancelled: int
    dead: int


class TimerStats(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "counts": {"pending": 5230, "fired": 81234, "cancelled": 40211, "dead": 1},
                "due": 2,
                "retrying": 1,
                "lag_seconds": 0.4,
                "by_kind": {"sla.clock": {"pending": 5230, "fired": 81234,
                                          "cancelled": 40211, "dead": 1}},
            }
        }
    )  # fmt: skip

    counts: TimerStateCounts
    due: int = Field(description="Pending timers whose firing time has come.")
    retrying: int = Field(description="Pending timers backing off after a failed firing.")
    lag_seconds: float = Field(
        description="How long the oldest due timer has been waiting: the workers' lag (a few "
        "tenths of a second when healthy)."
    )
    by_kind: dict[str, TimerStateCounts]
