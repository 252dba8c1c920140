"""Business calendars (工作日历): the working hours SLA clocks run on.

The pure engine is `app.calendars.businesstime`; a row here is its stored, editable
form. `weekly` and `overrides` are JSONB in the API's own shape (see
`app.calendars.schemas`), normalised by the service (intervals sorted, overrides sorted
by date) so that equal calendars are stored equally.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.columns import id_field, ts_field


class Calendar(SQLModel, table=True):
    __tablename__ = "calendars"
    # The service checks all of this with clear messages; the constraints keep a row
    # written past it (a script, a psql session) from breaking the engine.
    __table_args__ = (
        CheckConstraint(
            "CASE WHEN jsonb_typeof(weekly) = 'array' THEN jsonb_array_length(weekly) = 7"
            " ELSE false END",
            name="ck_calendars_weekly_7_days",
        ),
        CheckConstraint("jsonb_typeof(overrides) = 'array'", name="ck_calendars_overrides_array"),
        CheckConstraint(
            "holiday_subdivision IS NULL OR holiday_country IS NOT NULL",
            name="ck_calendars_subdivision_needs_country",
        ),
        CheckConstraint("active OR NOT system", name="ck_calendars_system_active"),
    )

    id: uuid.UUID = id_field()
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    tz: str = Field(max_length=64)
    # 7 lists (Monday first) of ["HH:MM", "HH:MM"] intervals; "24:00" only as an end.
    weekly: list[Any] = Field(sa_type=JSONB)
    holiday_country: str | None = Field(default=None, max_length=8)
    holiday_subdivision: str | None = Field(default=None, max_length=64)
    # [{"date": "YYYY-MM-DD", "hours": [[start, end], ...], "note": str | null}], by date.
    overrides: list[Any] = Field(default_factory=list, sa_type=JSONB)
    active: bool = Field(default=True)
    system: bool = Field(default=False)
    version: int = Field(default=1)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
