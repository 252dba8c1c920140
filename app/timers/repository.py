"""The timers' statements that the service runs for one timer at a time (set it, cancel
a subject's); the batch forms are the scheduler's and the firing's own query modules
(scheduler.py, firing.py), a new timer inside another statement is rows.py."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text

from app.core.db import UnitOfWork
from app.core.ids import uuid7

_UPSERT = text(
    """
    INSERT INTO timers (id, kind, subject_id, due_at, fire_at, version, state,
                        enqueued_version, attempts, created_at, updated_at)
    VALUES (:id, :kind, :subject_id, :due_at, :due_at, 1, 'pending',
            CASE WHEN :soon THEN 1 END, 0, :now, :now)
    ON CONFLICT (kind, subject_id) DO UPDATE SET
        due_at = EXCLUDED.due_at,
        fire_at = EXCLUDED.due_at,
        version = timers.version + 1,
        state = 'pending',
        attempts = 0,
        last_error = NULL,
        fired_at = NULL,
        enqueued_version = CASE WHEN :soon THEN timers.version + 1 END,
        updated_at = EXCLUDED.updated_at
    WHERE timers.due_at IS DISTINCT FROM EXCLUDED.due_at OR timers.state <> 'pending'
    RETURNING id
    """
)


async def upsert(
    uow: UnitOfWork, kind: str, subject_id: uuid.UUID, due_at: datetime, soon: bool, now: datetime
) -> bool:
    """Sets the timer (kind, subject) to `due_at`, pending; False when it already was."""
    values = {"id": uuid7(), "kind": kind, "subject_id": subject_id, "due_at": due_at,
              "soon": soon, "now": now}  # fmt: skip
    return (await uow.session.execute(_UPSERT, values)).first() is not None


async def cancel(uow: UnitOfWork, kind: str, ids: list[uuid.UUID], now: datetime) -> int:
    result = await uow.session.execute(
        text(
            "UPDATE timers SET state = 'cancelled', version = version + 1, updated_at = :now "
            "WHERE kind = :kind AND subject_id = ANY(:ids) AND state = 'pending'"
        ),
        {"kind": kind, "ids": ids, "now": now},
    )
    return int(getattr(result, "rowcount", 0) or 0)
