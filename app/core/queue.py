"""The one place that knows ARQ: a pool for enqueueing, JSON serialisation.

ARQ is in maintenance mode upstream; keeping it behind `enqueue()` means swapping it
touches this module and workers/settings.py only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from app.core.config import get_settings

_pool: ArqRedis | None = None


def job_serializer(obj: Any) -> bytes:
    # Job arguments are ids and numbers; `default=str` only covers what ARQ serialises on
    # its own, such as the JobExecutionFailed it records for an expired job.
    return orjson.dumps(obj, default=str)


def job_deserializer(data: bytes) -> Any:
    return orjson.loads(data)


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(get_settings().redis_url)


async def get_pool() -> ArqRedis:
    global _pool
    if _pool is None:
        _pool = await create_pool(
            redis_settings(), job_serializer=job_serializer, job_deserializer=job_deserializer
        )
    return _pool


async def close_pool() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
    _pool = None


def _deferral(at: datetime | None) -> datetime | None:
    # ARQ derives the job key's expiry from the deferral: a time long past gives a
    # negative expiry that Redis refuses. Anything already due simply runs now.
    if at is None or at <= datetime.now(UTC):
        return None
    return at


async def enqueue(
    function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
) -> bool:
    """Returns False when a job with this id already exists (a harmless duplicate)."""
    pool = await get_pool()
    job = await pool.enqueue_job(
        function, *args, _job_id=job_id, _defer_until=_deferral(defer_until)
    )
    return job is not None


async def enqueue_many(
    jobs: list[tuple[str, tuple[Any, ...], str, datetime | None]],
    concurrency: int = 32,
) -> int:
    """Enqueues (function, args, job id, defer until) jobs, `concurrency` at a time (each
    ARQ enqueue is a short WATCH/MULTI exchange; running them side by side hides the
    round trips without opening a connection per job). Returns how many were new."""
    pool = await get_pool()
    sem = asyncio.Semaphore(concurrency)

    async def one(fn: str, args: tuple[Any, ...], jid: str, at: datetime | None) -> bool:
        async with sem:
            job = await pool.enqueue_job(fn, *args, _job_id=jid, _defer_until=_deferral(at))
            return job is not None

    done = await asyncio.gather(*(one(*job) for job in jobs))
    return sum(done)


async def redis_ping() -> None:
    pool = await get_pool()
    await pool.ping()
