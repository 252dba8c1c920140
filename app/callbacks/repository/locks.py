"""How a timer's handler waits for a row a request holds: briefly.

A firing holds its timer's row and then locks the timer's subject (a ticket, a
callback, a plan); a request locks the subject first and then moves or cancels that
timer. Waiting the usual way would be a deadlock that PostgreSQL breaks after a second
by failing one of the two, possibly the request. With a short `lock_timeout` the firing
is always the one that gives way: its lock error is a transient failure, the firing
retries it shortly, and by then the request has committed (and cancelled the timer, or
not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from app.core.db import UnitOfWork

GIVE_WAY_MS = 200


@asynccontextmanager
async def give_way(uow: UnitOfWork, ms: int = GIVE_WAY_MS) -> AsyncIterator[None]:
    """Within the block, a lock not granted within `ms` raises (LockNotAvailable). The
    previous setting is put back after the block; if the block fails, the savepoint the
    firing runs each handler in is rolled back, and that undoes the setting too."""
    session = uow.session
    before = (await session.execute(text("SELECT current_setting('lock_timeout')"))).scalar_one()
    await session.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": f"{ms}ms"})
    yield
    await session.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": before})
