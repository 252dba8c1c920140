"""The crash test: a real ARQ worker is SIGKILLed in the middle of draining the outbox;
a fresh worker finishes the job and every message has taken effect exactly once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from app.core.db import open_uow
from app.core.ids import uuid7
from app.outbox.service import publish
from tests.workers.consumers import CREATE_EFFECTS, DROP_EFFECTS, EFFECTS_TABLE
from tests.workers.harness import Worker, held_redis_db

pytestmark = pytest.mark.slow

ROWS = 300
BATCH = 20
HANDLER_MS = 12  # ~3.6 s of handler time in all: long enough to kill a worker mid-drain
# A Redis database of its own (cron job ids are global to a database: a worker of another
# test run on the same database would take our ticks and drain *its* database).
WORKER_REDIS_DB = int(os.environ.get("OUTBOX_CRASH_REDIS_DB", "14"))
LOCK_KEY = "supportline:test:outbox-crash-lock"


@pytest.fixture
async def worker_redis(services: dict[str, str]) -> AsyncIterator[str]:
    """A flushed Redis database for the worker, held under a lock in the base database so
    two test sessions running this test at once take turns instead of flushing each other."""
    async with held_redis_db(services["redis_url"], WORKER_REDIS_DB, LOCK_KEY) as url:
        yield url


@pytest.fixture
async def db(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The test database's connection, with the tables the handlers write to."""
    await db.execute(CREATE_EFFECTS)
    yield db
    await db.execute(DROP_EFFECTS)


@pytest.fixture
def workers(services: dict[str, str], worker_redis: str, tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def _worker_env(services: dict[str, str], redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": services["database_url"],
            "REDIS_URL": redis_url,
            "OUTBOX_CONSUMERS": '["tests.workers.consumers:slow_record"]',
            "OUTBOX_BATCH_SIZE": str(BATCH),
            "OUTBOX_POLL_SECONDS": "1",
            "SLOW_RECORD_MS": str(HANDLER_MS),
            "LOG_LEVEL": "INFO",
            "WORKER_HEALTH_CHECK_INTERVAL": "2",
        }
    )
    return env


async def _open_worker_transactions(db: asyncpg.Connection) -> int:
    """Transactions of other connections to the test database (the worker's drain)."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    )


async def _wait_for(
    db: asyncpg.Connection,
    done: Callable[[int], Awaitable[bool]],
    timeout: float,
    worker: Worker,
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        delivered = int(await db.fetchval("SELECT count(*) FROM outbox WHERE status = 'delivered'"))
        if await done(delivered):
            return delivered
        if worker.proc.poll() is not None:
            pytest.fail(f"worker exited with {worker.proc.returncode}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out at {delivered} delivered:\n{worker.tail()}")
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_drain_loses_nothing_and_repeats_nothing(
    services: dict[str, str],
    worker_redis: str,
    db: asyncpg.Connection,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    async with open_uow() as uow:
        for i in range(ROWS):
            publish(uow, "test.crash", "ticket", uuid7(), {"i": i})
    env = _worker_env(services, worker_redis)
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    first = Worker(env, tmp_path / "worker1.log")
    workers.append(first)

    async def mid_drain(delivered: int) -> bool:
        # Some batches committed, most still to go, and a batch open right now.
        return delivered >= 3 * BATCH and await _open_worker_transactions(db) > 0

    at_kill = await _wait_for(db, mid_drain, 60, first)
    first.kill()
    timings["first_worker_until_kill"] = time.monotonic() - t0
    assert at_kill < ROWS, "the drain finished before the kill: make it slower"

    # Whatever the killed worker had in flight was rolled back with its connection.
    delivered_after_kill = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE status = 'delivered'"
    )
    effects_after_kill = await db.fetchval(f"SELECT count(*) FROM {EFFECTS_TABLE}")
    assert effects_after_kill == delivered_after_kill < ROWS

    t1 = time.monotonic()
    second = Worker(env, tmp_path / "worker2.log")
    workers.append(second)

    async def all_delivered(delivered: int) -> bool:
        return delivered == ROWS

    await _wait_for(db, all_delivered, 60, second)
    timings["second_worker_to_finish"] = time.monotonic() - t1

    summary = await db.fetchrow(
        f"""
        SELECT
          (SELECT count(*) FROM {EFFECTS_TABLE}) AS effects,
          (SELECT count(DISTINCT message_id) FROM {EFFECTS_TABLE}) AS distinct_effects,
          (SELECT count(*) FROM {EFFECTS_TABLE} e JOIN outbox o ON o.id = e.message_id)
              AS matched,
          (SELECT count(*) FROM outbox_receipts WHERE consumer = 'test.slow_record')
              AS receipts,
          (SELECT max(attempts) FROM outbox) AS max_attempts,
          (SELECT count(*) FROM outbox WHERE status <> 'delivered') AS undelivered
        """
    )
    # Exactly once: one effect per message (the primary key refuses a second one, and a
    # refused duplicate would show as a failed attempt), one receipt per message.
    assert summary["effects"] == ROWS
    assert summary["distinct_effects"] == ROWS
    assert summary["matched"] == ROWS
    assert summary["receipts"] == ROWS
    assert summary["max_attempts"] == 0
    assert summary["undelivered"] == 0
    by_pid = dict(await db.fetch(f"SELECT pid, count(*) FROM {EFFECTS_TABLE} GROUP BY pid"))
    assert by_pid.get(first.pid, 0) == delivered_after_kill > 0
    assert by_pid.get(second.pid, 0) == ROWS - delivered_after_kill > 0
    print(
        f"\ncrash test: killed at {delivered_after_kill}/{ROWS} delivered after "
        f"{timings['first_worker_until_kill']:.2f}s; second worker finished the rest in "
        f"{timings['second_worker_to_finish']:.2f}s"
    )
