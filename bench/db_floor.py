"""The database floor: the rows POST /v1/tickets must write (one ticket, its `created`
timeline event, one outbox message) inserted with raw asyncpg in one transaction.

Two ways to drive it:

* `app`: a bare ASGI app (no framework, no validation beyond orjson) served by
  uvicorn like the API (bench/serve.py), so wrk drives it exactly as it drives the
  ceiling and the real endpoint. bench/ticket_create uses this.
* `python -m bench.db_floor --db sl_bench`: a direct driver (no HTTP) with
  --concurrency connections split over --procs processes, each connection looping
  BEGIN / 3 INSERTs / COMMIT for --duration seconds. This is the database's own
  ceiling for the write.

Environment of the ASGI app: BENCH_DSN (postgresql://...), BENCH_ACTOR_ID (api key id
used as created_by), BENCH_POOL (connections per worker, default 16),
BENCH_FLOOR_MODE ("tx": BEGIN + 3 statements + COMMIT, the default; "cte": the three
inserts in one statement, one round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from app.core.ids import uuid7
from app.core.search import document

SEQ = "bench_floor_number"

INSERT_TICKET = """
INSERT INTO tickets (
    id, number, branch_id, customer_id, contact_id, device_id, contract_id, uncontracted,
    service_level, channel, category, service_type, impact, urgency, priority,
    priority_source, status, subject, description, product_version, affected_system,
    fault_started_at, external_ref, owner_id, created_by, reopen_count, version,
    created_at, updated_at, search_vector)
VALUES (
    $1, 'F' || to_char($12::timestamptz, 'YYYY') || '-' || lpad(nextval('bench_floor_number')::text, 7, '0'),
    $2, $3, $4, $5, $6, false, 'gold', $7, $8, $9, $10, $11, 'P2', 'derived', 'new',
    $13, $14, $15, $16, $17, $18, NULL, $19, 0, 1, $12, $12, to_tsvector('simple', $20))
RETURNING number
"""

INSERT_EVENT = """
INSERT INTO ticket_events (id, ticket_id, type, actor_id, actor_name, actor_role, channel, at,
    before, after, data)
VALUES ($1, $2, 'created', $3, 'bench-admin', 'admin', $4, $5, NULL, $6::jsonb, NULL)
"""

INSERT_OUTBOX = """
INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, event_id, payload, status,
    attempts, created_at, available_at)
VALUES ($1, 'ticket.created', 'ticket', $2, $3, $4::jsonb, 'pending', 0, $5, $5)
"""

INSERT_CTE = f"""
WITH t AS ({INSERT_TICKET.strip()}),
e AS (INSERT INTO ticket_events (id, ticket_id, type, actor_id, actor_name, actor_role,
        channel, at, before, after, data)
      VALUES ($21, $1, 'created', $19, 'bench-admin', 'admin', $7, $12, NULL, $22::jsonb, NULL)),
o AS (INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, event_id, payload,
        status, attempts, created_at, available_at)
      VALUES ($23, 'ticket.created', 'ticket', $1, $21, $24::jsonb, 'pending', 0, $12, $12))
SELECT number FROM t
"""


async def prepare_db(conn: asyncpg.Connection) -> None:
    await conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQ}")


def _uuid(v: Any) -> uuid.UUID | None:
    return uuid.UUID(v) if v else None


def _ts(v: Any) -> datetime | None:
    return datetime.fromisoformat(v) if v else None


async def create(
    conn: asyncpg.Connection,
    body: dict[str, Any],
    actor: uuid.UUID,
    branch: uuid.UUID,
    contract: uuid.UUID | None,
    mode: str = "tx",
) -> tuple[uuid.UUID, str]:
    now = datetime.now(UTC)
    tid, eid, oid = uuid7(), uuid7(), uuid7()
    subject = body["subject"]
    description = body.get("description", "")
    args = (
        tid,
        branch,
        _uuid(body["customer_id"]),
        _uuid(body.get("contact_id")),
        _uuid(body.get("device_id")),
        contract,
        body["channel"],
        body["category"],
        body.get("service_type", "remote"),
        body.get("impact"),
        body.get("urgency"),
        now,
        subject,
        description,
        body.get("product_version"),
        body.get("affected_system"),
        _ts(body.get("fault_started_at")),
        body.get("external_ref"),
        actor,
        document(subject, description),
    )
    after = orjson.dumps(
        {"status": "new", "priority": "P2", "channel": body["channel"], "subject": subject}
    ).decode()
    payload = orjson.dumps(
        {"ticket_id": str(tid), "event_id": str(eid), "status": "new", "priority": "P2"}
    ).decode()
    if mode == "cte":
        number = await conn.fetchval(INSERT_CTE, *args, eid, after, oid, payload)
        return tid, number
    async with conn.transaction():
        number = await conn.fetchval(INSERT_TICKET, *args)
        await conn.execute(INSERT_EVENT, eid, tid, actor, body["channel"], now, after)
        await conn.execute(INSERT_OUTBOX, oid, tid, eid, payload, now)
    return tid, number


# --------------------------------------------------------------------------------------
# The ASGI app


class FloorApp:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.actor = uuid.UUID(os.environ.get("BENCH_ACTOR_ID", str(uuid.UUID(int=0))))
        self.mode = os.environ.get("BENCH_FLOOR_MODE", "tx")
        self.branches: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID | None]] = {}

    async def startup(self) -> None:
        size = int(os.environ.get("BENCH_POOL", "16"))
        self.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=size, max_size=size)

    async def customer(self, conn: asyncpg.Connection, cid: uuid.UUID) -> Any:
        # Branch and contract of the customer, cached per process: the floor measures the
        # writes, not lookups.
        hit = self.branches.get(cid)
        if hit is None:
            row = await conn.fetchrow(
                "SELECT c.branch_id, (SELECT k.id FROM contracts k WHERE k.customer_id = c.id"
                " AND k.status = 'active' LIMIT 1) AS contract_id FROM customers c WHERE c.id = $1",
                cid,
            )
            hit = (row["branch_id"], row["contract_id"])
            self.branches[cid] = hit
        return hit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    if self.pool is not None:
                        await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            await self.respond(send, 200, b'{"status":"ok"}')
            return
        chunks = []
        more = True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            await self.respond(send, 400, b'{"title":"bad json"}')
            return
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            branch, contract = await self.customer(conn, uuid.UUID(body["customer_id"]))
            tid, number = await create(conn, body, self.actor, branch, contract, self.mode)
        await self.respond(send, 201, orjson.dumps({"id": tid, "number": number}))

    @staticmethod
    async def respond(send: Any, status: int, payload: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


app = FloorApp()


# --------------------------------------------------------------------------------------
# The direct driver


async def _drive(
    dsn: str,
    conns: int,
    seconds: float,
    body: dict[str, Any],
    actor: str,
    mode: str,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    pool = await asyncpg.create_pool(
        dsn, min_size=conns, max_size=conns, server_settings=settings or {}
    )
    lat: list[float] = []
    errors = 0
    branch = uuid.UUID(body["_branch_id"])
    contract = _uuid(body.get("_contract_id"))
    actor_id = uuid.UUID(actor)
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal errors
        async with pool.acquire() as conn:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    await create(conn, body, actor_id, branch, contract, mode)
                except Exception:
                    errors += 1
                lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(conns)))
    elapsed = time.perf_counter() - t0
    await pool.close()
    return {"lat": lat, "errors": errors, "elapsed": elapsed}


def _child(args: tuple[Any, ...], q: Any) -> None:
    q.put(asyncio.run(_drive(*args)))


def drive(
    dsn: str,
    body: dict[str, Any],
    actor: str,
    *,
    seconds: float,
    concurrency: int = 32,
    procs: int = 2,
    mode: str = "tx",
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    ps = [
        ctx.Process(target=_child, args=((dsn, n, seconds, body, actor, mode, settings), q))
        for n in per
    ]
    for p in ps:
        p.start()
    parts = [q.get() for _ in ps]
    for p in ps:
        p.join()
    lat = sorted(x for part in parts for x in part["lat"])
    elapsed = max(part["elapsed"] for part in parts)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else 0.0

    return {
        "transactions": len(lat),
        "tps": len(lat) / elapsed if elapsed else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": lat[-1] * 1000 if lat else 0.0,
        "mean_ms": statistics.fmean(lat) * 1000 if lat else 0.0,
        "errors": sum(part["errors"] for part in parts),
        "concurrency": concurrency,
        "procs": procs,
        "mode": mode,
    }


def main() -> None:
    from bench import common

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", default="sl_bench", help="existing benchmark database (fixtures)")
    p.add_argument("--fresh", action="store_true", help="recreate and migrate --db first")
    p.add_argument("--duration", type=float, default=15)
    p.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--mode", choices=["tx", "cte"], default="tx")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="session setting for the driver's connections (diagnostics), e.g."
        " synchronous_commit=off",
    )
    a = p.parse_args()
    settings = dict(kv.split("=", 1) for kv in a.set)
    if a.fresh or not common.run(common.database_exists(a.db, a.server)):
        common.run(common.fresh_database(a.db, a.server))
    actor = common.run(_setup(common.dsn(a.db, a.server)))
    body = dict(common.CREATE_BODY)
    body["_branch_id"] = str(common.BRANCH_ID)
    body["_contract_id"] = str(common.CONTRACT_ID)
    r = drive(
        common.dsn(a.db, a.server),
        body,
        actor,
        seconds=a.duration,
        concurrency=a.concurrency,
        procs=a.procs,
        mode=a.mode,
        settings=settings,
    )
    r["settings"] = settings
    json.dump(r, sys.stdout, indent=2)
    print()


async def _setup(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        await prepare_db(conn)
        return str(await conn.fetchval("SELECT id FROM api_keys ORDER BY created_at LIMIT 1"))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
