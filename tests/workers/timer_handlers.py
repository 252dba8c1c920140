"""Timer handlers for tests/workers/test_timers.py: the tests' workers load this module
through TIMER_HANDLER_MODULES, beside the real SLA kinds."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.timers.service import DueTimer, handler

RECORD = "test.record"
SLOW_ONCE = "test.slow_once"

FIRED_TABLE = "timer_test_fired"
ATTEMPTS_TABLE = "timer_test_attempts"
CREATE_TABLES = f"""
CREATE TABLE IF NOT EXISTS {FIRED_TABLE} (
    id bigserial PRIMARY KEY,  -- no unique key on the timer: a second firing must show
    timer_id uuid NOT NULL,
    version integer NOT NULL,
    kind text NOT NULL,
    due_at timestamptz NOT NULL,
    fired_at timestamptz NOT NULL,  -- the `now` the handler was given
    pid integer NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS {ATTEMPTS_TABLE} (
    id bigserial PRIMARY KEY,
    timer_id uuid NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""
DROP_TABLES = f"DROP TABLE IF EXISTS {FIRED_TABLE}, {ATTEMPTS_TABLE}"
# How long the first attempt of a SLOW_ONCE timer holds its transaction open.
SLOW_SECONDS = float(os.environ.get("TIMER_TEST_SLOW_SECONDS", "30"))


async def _record(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await uow.session.execute(
        text(
            f"INSERT INTO {FIRED_TABLE} (timer_id, version, kind, due_at, fired_at, pid) "
            "VALUES (:id, :v, :k, :due, :now, :pid)"
        ),
        {
            "id": timer.id,
            "v": timer.version,
            "k": timer.kind,
            "due": timer.due_at,
            "now": now,
            "pid": os.getpid(),
        },
    )


@handler(RECORD)
async def record(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    await _record(uow, timer, now)


@handler(SLOW_ONCE)
async def slow_once(uow: UnitOfWork, timer: DueTimer, now: datetime) -> None:
    """Notes the attempt on a connection of its own (committed at once, so the test sees
    the job start and the next attempt knows it is not the first), writes its effect in
    the firing transaction, and on the first attempt only then holds that transaction
    open for SLOW_SECONDS: long enough to SIGKILL the worker in the middle of it."""
    dsn = make_url(get_settings().database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await conn.execute(
            f"INSERT INTO {ATTEMPTS_TABLE} (timer_id, pid) VALUES ($1, $2)", timer.id, os.getpid()
        )
        attempts = await conn.fetchval(
            f"SELECT count(*) FROM {ATTEMPTS_TABLE} WHERE timer_id = $1", timer.id
        )
    finally:
        await conn.close()
    await _record(uow, timer, now)
    await uow.session.flush()
    if attempts == 1:
        await asyncio.sleep(SLOW_SECONDS)
