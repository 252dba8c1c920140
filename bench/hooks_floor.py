"""bench/hooks_in's database floor: what a repeated alert must write, and nothing else,
on raw asyncpg behind a bare ASGI app (no framework, no authentication, no validation
beyond orjson).

For each alert of the body, in one transaction: the (source, fingerprint) row counted
(`fire_count + 1`, under its row lock, as the real path takes it), the `alert.repeated`
timeline event on its ticket, and the request's `hook_requests` row. An alert whose
fingerprint is new only gets the request row: the floor does not open tickets, so it
is below the real work for the 10 % of new alerts too.

Environment: BENCH_DSN (postgresql://...), BENCH_SOURCE_ID, BENCH_ACTOR_ID, BENCH_POOL
(connections per worker, default 16).
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import asyncpg
import orjson

from app.core.ids import uuid7

REPEAT = """
WITH a AS (
    UPDATE hook_alerts SET fire_count = fire_count + 1, last_seen_at = now()
    WHERE source_id = $1 AND fingerprint = $2
    RETURNING ticket_id, fire_count
)
INSERT INTO ticket_events (id, ticket_id, type, actor_id, actor_name, actor_role, channel, at,
    data)
SELECT $3, a.ticket_id, 'alert.repeated', $4, 'Webhooks', 'integration', 'webhook', now(),
       jsonb_build_object('fingerprint', $2::text, 'count', a.fire_count)
FROM a WHERE a.ticket_id IS NOT NULL
"""

REQUEST = """
INSERT INTO hook_requests (id, source_id, webhook_id, received_at, outcome, status_code,
    body_bytes, alerts)
VALUES ($1, $2, NULL, now(), 'accepted', 202, $3, $4::jsonb)
"""


class FloorApp:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.source = uuid.UUID(os.environ.get("BENCH_SOURCE_ID", str(uuid.UUID(int=0))))
        self.actor = uuid.UUID(os.environ.get("BENCH_ACTOR_ID", str(uuid.UUID(int=0))))

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                size = int(os.environ.get("BENCH_POOL", "16"))
                self.pool = await asyncpg.create_pool(
                    os.environ["BENCH_DSN"], min_size=size, max_size=size
                )
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            await respond(send, 200, b'{"status":"ok"}')
            return
        chunks, more = [], True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        raw = b"".join(chunks)
        try:
            alerts = orjson.loads(raw).get("alerts") or []
        except (orjson.JSONDecodeError, AttributeError):
            await respond(send, 400, b'{"title":"bad json"}')
            return
        assert self.pool is not None
        outcomes = []
        async with self.pool.acquire() as conn, conn.transaction():
            for a in alerts:
                fp = str(a.get("fingerprint", ""))
                await conn.execute(REPEAT, self.source, fp, uuid7(), self.actor)
                outcomes.append({"fingerprint": fp, "action": "repeated"})
            await conn.execute(REQUEST, uuid7(), self.source, len(raw), json.dumps(outcomes))
        await respond(send, 202, orjson.dumps({"alerts": outcomes}))


async def respond(send: Any, status: int, payload: bytes) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


app = FloorApp()
