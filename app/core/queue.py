"""The one place that knows ARQ: a pool for enqueueing, JSON serialisation.

ARQ is in maintenance mode upstream; keeping it behind `enqueue()` means swapping it
touches this module and workers/settings.py only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms

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


# What ARQ's enqueue_job does for one job (skip when the job or its result exists; else
# store the job with an expiry and add it to the queue), done for a whole chunk in one
# atomic script: one round trip per chunk instead of a WATCH/MULTI exchange per job.
_ENQUEUE_MANY = """
local added = 0
for i = 1, #ARGV, 4 do
  local job_key = KEYS[2] .. ARGV[i]
  if redis.call('EXISTS', job_key, KEYS[3] .. ARGV[i]) == 0 then
    redis.call('PSETEX', job_key, ARGV[i + 2], ARGV[i + 3])
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
    added = added + 1
  end
end
return added
"""


async def enqueue_many(
    jobs: Sequence[tuple[str, tuple[Any, ...], str, datetime | None]], chunk: int = 500
) -> int:
    """Enqueues (function, args, job id, defer until) jobs the way ARQ's `enqueue_job`
    does (same key layout, payload and expiry; a job id that exists is skipped), a chunk
    per round trip. Returns how many were new."""
    pool = await get_pool()
    keys = [pool.default_queue_name, job_key_prefix, result_key_prefix]
    added = 0
    for start in range(0, len(jobs), chunk):
        now_ms = timestamp_ms()
        argv: list[Any] = []
        for function, args, jid, at in jobs[start : start + chunk]:
            deferral = _deferral(at)
            score = to_unix_ms(deferral) if deferral is not None else now_ms
            expires_ms = score - now_ms + pool.expires_extra_ms
            payload = serialize_job(function, args, {}, None, now_ms, serializer=job_serializer)
            argv += [jid, score, expires_ms, payload]
        added += int(await pool.eval(_ENQUEUE_MANY, 3, *keys, *argv))  # type: ignore[misc]
    return added


async def discard(job_ids: list[str]) -> None:
    """Removes queued jobs that are known to have nothing left to do (their work was done
    by another job), so workers do not spend a round trip each on them. A job already
    running is not touched (its key is still needed); removing a missing one is a no-op."""
    if not job_ids:
        return
    pool = await get_pool()
    async with pool.pipeline(transaction=False) as pipe:
        pipe.zrem(pool.default_queue_name, *job_ids)
        pipe.delete(*[job_key_prefix + j for j in job_ids])
        await pipe.execute()


async def redis_ping() -> None:
    pool = await get_pool()
    await pool.ping()
