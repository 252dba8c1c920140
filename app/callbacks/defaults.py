"""The default callback policy a new installation starts with: a callback at 10:00 on the
next business day of the China 5x8 calendar, three tries two hours apart, the ticket
closed as unreachable when they are used up, and a silent resolved ticket closed three
business days after its resolution.

`DEFAULT_POLICY` is the row itself (a plain constant, fixed id), frozen into migration
0011 (`alembic/versions/0011_mail_callback_defaults.py`); `ensure_callback_defaults`
inserts it with ON CONFLICT DO NOTHING, so an operator's edits to it are never
overwritten."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from app.calendars.defaults import CALENDAR_CN_5X8
from app.callbacks.models import CallbackPolicy
from app.core.clock import get_clock
from app.core.db import UnitOfWork

DEFAULT_POLICY_ID = uuid.UUID("01a20a8b-77d6-7300-8000-000000000001")

DEFAULT_POLICY: dict[str, Any] = {
    "id": DEFAULT_POLICY_ID,
    "customer_id": None,
    "enabled": True,
    "calendar_id": CALENDAR_CN_5X8,
    "local_time": "10:00",
    "after_business_days": 1,
    "max_attempts": 3,
    "retry_minutes": 120,
    "on_exhausted": "close",
    "silence_business_days": 3,
    "version": 1,
}


async def ensure_callback_defaults(uow: UnitOfWork) -> None:
    now = get_clock().now()
    row = {**DEFAULT_POLICY, "created_at": now, "updated_at": now}
    # No conflict target: the default is one row by its id and by its null customer
    # (the unique constraint treats nulls as equal), and either means it is there.
    await uow.session.execute(insert(CallbackPolicy).values([row]).on_conflict_do_nothing())
