"""The one place that knows ARQ: a pool for enqueueing, JSON serialisation.

ARQ is in maintenance mode upstream; keeping it behind `enqueue()` means swapping it
touches this module and workers/settings.py only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from app.core.config import get_settings

_pool: ArqRedis | None = None


def job_serializer(obj: Any) -> bytes:
    return orjson.dumps(obj)


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


async def enqueue(
    function: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
) -> bool:
    """Returns False when a job with this id already exists (a harmless duplicate)."""
    pool = await get_pool()
    job = await pool.enqueue_job(function, *args, _job_id=job_id, _defer_until=defer_until)
    return job is not None


async def redis_ping() -> None:
    pool = await get_pool()
    await pool.ping()
