"""How many requests a source may send a minute: a fixed-window counter in Redis.

One key per source and minute (`hooks:rate:<source>:<minute>`), INCR and EXPIRE in one
pipelined round trip. Fixed windows let a sender burst up to twice the rate across a
window's edge; that is enough for a guard whose purpose is to keep one runaway sender
(an alert storm, a loop) from taking the API's capacity.

Redis is the fast path, never the truth (docs/architecture.md): when it cannot be
reached within a short time-out the request is allowed and a warning logged, so that
monitoring keeps opening tickets while Redis is down. Windows follow the injected
clock, as everything else does (tests pin it)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.core.clock import get_clock
from app.core.config import get_settings

log = logging.getLogger("supportline.hooks")
WINDOW_SECONDS = 60
TIMEOUT_SECONDS = 0.5
_client: redis.Redis | None = None
_client_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends (when refused)
    count: int


def _redis() -> redis.Redis:
    """One client per event loop (tests run several loops in one process)."""
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client_loop is not loop:
        _client = redis.Redis.from_url(
            get_settings().redis_url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
        )
        _client_loop = loop
    return _client


def limit_of(own: int | None) -> int:
    return own if own is not None else get_settings().hook_rate_limit_per_minute


async def hit(source_id: uuid.UUID, limit: int) -> Verdict:
    """Counts one request of the source; refused once more than `limit` this minute."""
    now = get_clock().now().timestamp()
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
    key = f"hooks:rate:{source_id}:{window}"
    try:
        async with _redis().pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("hook rate limit not checked (Redis unavailable): %s", exc)
        return Verdict(True, 0, 0)
    return Verdict(int(count) <= limit, retry_after, int(count))
