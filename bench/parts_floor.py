"""The database floor of a reservation: what POST /v1/tickets/{id}/part-requests must do
to the stock, with raw asyncpg and no HTTP, so bench/parts can print the database's own
limit on one hot balance row beside the API's figure.

One transaction per reservation, on each of --concurrency connections (split over
--procs processes), in a loop for --duration seconds:

    BEGIN
    SELECT on_hand, reserved FROM stock_balances WHERE (part, warehouse) FOR UPDATE
    -- available < 1: ROLLBACK (counted as a refusal)
    UPDATE stock_balances SET reserved = reserved + 1, updated_at = now()
    INSERT INTO part_reservations (... request_id = one existing part request ...)
    COMMIT

The reservations are real rows (active, 1 unit): `supportline stock-check` still agrees
with the balances afterwards. bench/parts_bench.py calls `drive`.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import statistics
import time
import uuid
from typing import Any

import asyncpg

LOCK = (
    "SELECT on_hand, reserved FROM stock_balances WHERE part_id = $1 AND warehouse_id = $2"
    " FOR UPDATE"
)
UPDATE = (
    "UPDATE stock_balances SET reserved = reserved + 1, updated_at = now()"
    " WHERE part_id = $1 AND warehouse_id = $2"
)
INSERT = (
    "INSERT INTO part_reservations (id, request_id, part_id, warehouse_id, quantity, state,"
    " created_at) VALUES ($1, $2, $3, $4, 1, 'active', now())"
)


async def _loop(
    conn: asyncpg.Connection, job: dict[str, Any], stop_at: float, lat: list[float]
) -> tuple[int, int]:
    part = uuid.UUID(job["part_id"])
    request = uuid.UUID(job["request_id"])
    warehouses = [uuid.UUID(w) for w in job["warehouses"]]
    rng = random.Random()
    refused = errors = 0
    while time.perf_counter() < stop_at:
        wh = warehouses[0] if len(warehouses) == 1 else rng.choice(warehouses)
        t0 = time.perf_counter()
        try:
            async with conn.transaction():
                row = await conn.fetchrow(LOCK, part, wh)
                if row is None or row["on_hand"] - row["reserved"] < 1:
                    refused += 1
                    raise _Refused
                await conn.execute(UPDATE, part, wh)
                await conn.execute(INSERT, uuid.uuid4(), request, part, wh)
        except _Refused:
            continue
        except asyncpg.PostgresError:
            errors += 1
            continue
        lat.append(time.perf_counter() - t0)
    return refused, errors


class _Refused(Exception):
    pass


async def _child_async(dsn: str, n: int, seconds: float, job: dict[str, Any]) -> dict[str, Any]:
    conns = [await asyncpg.connect(dsn) for _ in range(n)]
    lat: list[float] = []
    try:
        t0 = time.perf_counter()
        res = await asyncio.gather(*(_loop(c, job, t0 + seconds, lat) for c in conns))
        elapsed = time.perf_counter() - t0
    finally:
        for c in conns:
            await c.close()
    return {
        "lat": lat,
        "elapsed": elapsed,
        "refused": sum(r[0] for r in res),
        "errors": sum(r[1] for r in res),
    }


def _child(args: tuple[Any, ...], q: Any) -> None:
    import uvloop

    dsn, n, seconds, job = args
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        q.put(runner.run(_child_async(dsn, n, seconds, job)))


def drive(
    dsn: str,
    *,
    part_id: uuid.UUID,
    warehouses: list[uuid.UUID],
    request_id: uuid.UUID,
    seconds: float,
    concurrency: int,
    procs: int = 2,
) -> dict[str, Any]:
    """Runs the loop; returns transactions, tps, latency percentiles (ms), refusals."""
    job = {"part_id": str(part_id), "request_id": str(request_id),
           "warehouses": [str(w) for w in warehouses]}  # fmt: skip
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_child, args=((dsn, n, seconds, job), q)) for n in per if n]
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
        "refused": sum(part["refused"] for part in parts),
        "errors": sum(part["errors"] for part in parts),
        "concurrency": concurrency,
        "procs": len(ps),
    }
