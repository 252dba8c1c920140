"""The business calendars a new installation starts with (system calendars).

The same rows, ids included, are frozen into `alembic/versions/0003_calendars.py` (a
migration must not import application code that may change later); `ensure_calendars`
is for places that start from an empty database without migrating (tests after a
TRUNCATE, demo loaders), called by `app.defaults.ensure_defaults`. Both insert
with ON CONFLICT DO NOTHING, so an operator's edits to these rows are never overwritten.
The ids are fixed so every installation names the defaults alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from app.calendars.models import Calendar
from app.core.clock import get_clock
from app.core.db import UnitOfWork

_ALL_DAY = [["00:00", "24:00"]]
_OFFICE = [["09:00", "18:00"]]
_LUNCH_BREAK = [["09:00", "12:00"], ["13:30", "18:00"]]

CALENDAR_24X7 = uuid.UUID("01a20a8b-77d6-7000-b484-73fa5eab49d3")
CALENDAR_CN_5X8 = uuid.UUID("01a20a8b-77d6-7001-8b36-4d5701a3307d")
CALENDAR_CN_5X8_LUNCH = uuid.UUID("01a20a8b-77d6-7002-99cb-af9f99b1e900")

CALENDARS: list[dict[str, Any]] = [
    {
        "id": CALENDAR_24X7,
        "code": "24x7",
        "name": "全天候 7x24",
        "name_en": "Around the clock",
        "tz": "Asia/Shanghai",
        "weekly": [_ALL_DAY] * 7,
        "holiday_country": None,
    },
    {
        "id": CALENDAR_CN_5X8,
        "code": "cn-5x8",
        "name": "工作日 5x8",
        "name_en": "China business hours",
        "tz": "Asia/Shanghai",
        "weekly": [_OFFICE] * 5 + [[], []],
        "holiday_country": "CN",
    },
    {
        "id": CALENDAR_CN_5X8_LUNCH,
        "code": "cn-5x8-lunch",
        "name": "工作日 5x8（午休）",
        "name_en": "China business hours, lunch break",
        "tz": "Asia/Shanghai",
        "weekly": [_LUNCH_BREAK] * 5 + [[], []],
        "holiday_country": "CN",
    },
]


async def ensure_calendars(uow: UnitOfWork) -> None:
    """Insert the system calendars that are missing; idempotent, never overwrites."""
    now = get_clock().now()
    common: dict[str, Any] = {
        "holiday_subdivision": None,
        "overrides": [],
        "active": True,
        "system": True,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    # No conflict target: a row already holding the code or the id is left alone.
    await uow.session.execute(
        insert(Calendar).values([{**common, **r} for r in CALENDARS]).on_conflict_do_nothing()
    )
