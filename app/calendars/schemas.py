"""Business calendar requests and replies, and the preview's answers.

Shapes only (types, lengths, the "HH:MM" pattern); the rules that need more than one
field or a lookup (time zone, intervals in order and not overlapping, holiday country
and subdivision, distinct override dates) are the service's, so they hold for every
caller and for a PATCH merged with the stored row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from app.core.inputs import InputModel, Text
from app.core.outputs import OutputModel

CODE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=CODE_PATTERN,
        description="Stable key, lower case: letters, digits, '.', '_', '-' (e.g. `cn-5x8`).",
    ),
]
HHMM = Annotated[
    str,
    Field(
        pattern=r"^\d{2}:\d{2}$",
        description='Local wall-clock time "HH:MM"; "24:00" (end of day) only as an end.',
    ),
]
Interval = Annotated[
    tuple[HHMM, HHMM], Field(description='A working interval ["start", "end"], end after start.')
]
DayHours = Annotated[list[Interval], Field(max_length=12)]
Weekly = Annotated[
    list[DayHours],
    Field(
        min_length=7,
        max_length=7,
        description="Working intervals of each weekday, Monday first (exactly 7 lists; "
        "an empty list is a day off). Intervals of a day may touch but not overlap.",
    ),
]
Tz = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone the hours are read in."),
]
Country = Annotated[
    str,
    Field(
        min_length=2,
        max_length=8,
        description="ISO 3166-1 alpha-2 code of the country whose public holidays are off "
        "and whose declared working weekend days (调休上班) are worked, from the `holidays` "
        "package; null: no public holidays.",
    ),
]
Subdivision = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Subdivision code of `holiday_country` as the `holidays` package names "
        "it (e.g. `BY` for Bavaria); needs a country.",
    ),
]

_WEEKLY_EXAMPLE: list[Any] = [
    [["09:00", "12:00"], ["13:30", "18:00"]],
    [["09:00", "12:00"], ["13:30", "18:00"]],
    [["09:00", "12:00"], ["13:30", "18:00"]],
    [["09:00", "12:00"], ["13:30", "18:00"]],
    [["09:00", "12:00"], ["13:30", "18:00"]],
    [],
    [],
]
_OVERRIDES_EXAMPLE: list[Any] = [
    {"date": "2026-06-30", "hours": [["09:00", "15:00"]], "note": "年中盘点，提前下班"},
    {"date": "2026-07-01", "hours": [], "note": "公司成立纪念日"},
]


class Override(InputModel):
    """The hours of one date, replacing everything else on it (weekly hours, public
    holidays, declared working days); an empty `hours` makes the date a day off."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"date": "2026-07-01", "hours": [], "note": "公司成立纪念日"}
        },
    )

    date: date
    hours: DayHours = Field(description="The date's working intervals; [] for a day off.")
    note: Text | None = Field(None, max_length=200)


class OverrideOut(OutputModel):
    """A dated exception as stored (the response twin of Override)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"date": "2026-07-01", "hours": [], "note": "公司成立纪念日"}
        },
    )

    date: date
    hours: list[Interval] = Field(description="The date's working intervals; [] for a day off.")
    note: str | None


Overrides = Annotated[
    list[Override],
    Field(max_length=1000, description="Dated exceptions, one per date."),
]


class CalendarCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "sh-5x8-lunch",
                "name": "上海工作日（午休）",
                "name_en": "Shanghai business hours with lunch break",
                "tz": "Asia/Shanghai",
                "weekly": _WEEKLY_EXAMPLE,
                "holiday_country": "CN",
                "holiday_subdivision": None,
                "overrides": _OVERRIDES_EXAMPLE,
            }
        },
    )

    code: Code
    name: str = Field(min_length=1, max_length=200, description="Chinese name (zh-CN).")
    name_en: str = Field(min_length=1, max_length=200)
    tz: Tz = "Asia/Shanghai"
    weekly: Weekly
    holiday_country: Country | None = None
    holiday_subdivision: Subdivision | None = None
    overrides: Overrides = Field(default_factory=list)
    active: bool = True


class CalendarUpdate(InputModel):
    """Fields given replace the stored ones (`weekly` and `overrides` as a whole)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name_en": "Shanghai office hours",
                "overrides": [{"date": "2026-12-31", "hours": [["09:00", "12:00"]], "note": None}],
            }
        },
    )

    code: Code | None = Field(
        None, description="Renames the calendar; not allowed for system calendars."
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    tz: Tz | None = None
    weekly: Weekly | None = None
    holiday_country: Country | None = None
    holiday_subdivision: Subdivision | None = None
    overrides: Overrides | None = None
    active: bool | None = Field(None, description="System calendars cannot be deactivated.")


class CalendarOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "01a20a8b-77d6-7002-99cb-af9f99b1e900",
                "code": "cn-5x8-lunch",
                "name": "工作日 5x8（午休）",
                "name_en": "China business hours, lunch break",
                "tz": "Asia/Shanghai",
                "weekly": _WEEKLY_EXAMPLE,
                "holiday_country": "CN",
                "holiday_subdivision": None,
                "overrides": [],
                "active": True,
                "system": True,
                "version": 1,
                "created_at": "2026-03-02T08:00:00Z",
                "updated_at": "2026-03-02T08:00:00Z",
            }
        },
    )

    id: uuid.UUID
    code: str
    name: str
    name_en: str
    tz: str
    weekly: list[list[Interval]]
    holiday_country: str | None
    holiday_subdivision: str | None
    overrides: list[OverrideOut]
    active: bool
    system: bool = Field(
        description="One of the defaults every installation has: cannot be deactivated or renamed."
    )
    version: int
    created_at: datetime
    updated_at: datetime


class PreviewDue(OutputModel):
    """When `duration` of working time has elapsed since `start` (times in UTC)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "calendar_id": "01a20a8b-77d6-7001-8b36-4d5701a3307d",
                "start": "2026-02-13T08:00:00Z",
                "start_in_working_time": True,
                "duration_seconds": 14400,
                "due_at": "2026-02-14T03:00:00Z",
            }
        }
    )

    calendar_id: uuid.UUID
    start: datetime
    start_in_working_time: bool
    duration_seconds: float
    due_at: datetime = Field(
        description="The earliest instant at which the duration has elapsed (the start "
        "itself for a zero duration)."
    )


class PreviewBetween(OutputModel):
    """How much working time lies in [start, end) (times in UTC)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "calendar_id": "01a20a8b-77d6-7001-8b36-4d5701a3307d",
                "start": "2026-02-13T08:00:00Z",
                "start_in_working_time": True,
                "end": "2026-02-24T02:00:00Z",
                "business_seconds": 43200,
            }
        }
    )

    calendar_id: uuid.UUID
    start: datetime
    start_in_working_time: bool
    end: datetime
    business_seconds: float
