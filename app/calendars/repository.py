"""The queries of business calendars: rows through the session for the API, and the
columns the engine needs through a raw connection for SLA code (hot paths)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import col, select

from app.calendars.models import Calendar
from app.core.db import UnitOfWork
from app.core.pagination import PageParams


async def flush(uow: UnitOfWork) -> None:
    """Writes the pending changes (the unique code is checked here)."""
    await uow.session.flush()


def add(uow: UnitOfWork, row: Calendar) -> None:
    uow.session.add(row)


async def code_taken(uow: UnitOfWork, code: str, other_than: uuid.UUID | None = None) -> bool:
    stmt = select(col(Calendar.id)).where(Calendar.code == code)
    if other_than is not None:
        stmt = stmt.where(col(Calendar.id) != other_than)
    return (await uow.session.execute(stmt)).first() is not None


async def get(uow: UnitOfWork, calendar_id: uuid.UUID, *, lock: bool = False) -> Calendar | None:
    stmt = select(Calendar).where(col(Calendar.id) == calendar_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def by_code(uow: UnitOfWork, code: str) -> Calendar | None:
    stmt = select(Calendar).where(Calendar.code == code)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_page(uow: UnitOfWork, page: PageParams, active: bool | None) -> list[Calendar]:
    """Oldest first (by id), one more than the page's limit (to tell whether a next page
    exists)."""
    stmt = select(Calendar)
    if active is not None:
        stmt = stmt.where(Calendar.active == active)
    if page.after is not None:
        stmt = stmt.where(col(Calendar.id) > page.after)
    stmt = stmt.order_by(col(Calendar.id)).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


# -- the engine's columns, on a raw connection ------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineColumns:
    """The columns of a calendar the engine's view is built from."""

    id: uuid.UUID
    version: int
    updated_at: datetime
    tz: str
    weekly: list[Any]
    holiday_country: str | None
    holiday_subdivision: str | None
    overrides: list[Any]


_VERSIONS = "SELECT id, version, updated_at FROM calendars WHERE id = ANY($1::uuid[])"
_ROWS = (
    "SELECT id, version, updated_at, tz, weekly, holiday_country, holiday_subdivision,"
    " overrides FROM calendars WHERE id = ANY($1::uuid[])"
)


async def connection(uow: UnitOfWork) -> Any:
    """The connection `versions` and `engine_columns` run on."""
    # Run on whatever the unit of work already uses: the raw connection of a hot path
    # that started raw (it may not open a session any more), else the session's own
    # connection (opening the session, so the caller may still use it afterwards).
    if not uow.holds_raw:
        uow.session  # noqa: B018  (opens the session: connection() then joins its transaction)
    return await uow.connection()


async def versions(conn: Any, ids: Sequence[uuid.UUID]) -> list[Any]:
    """(id, version, updated_at) of each id that names a calendar."""
    return list(await conn.fetch(_VERSIONS, ids))


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def engine_columns(conn: Any, ids: Sequence[uuid.UUID]) -> list[EngineColumns]:
    """The engine's columns of each id that names a calendar."""
    return [
        EngineColumns(**{**r, "weekly": _json(r["weekly"]), "overrides": _json(r["overrides"])})
        for r in await conn.fetch(_ROWS, ids)
    ]
