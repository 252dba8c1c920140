"""bench/ticket_create: the framework's ceiling, the database floor and the real
POST /v1/tickets side by side: same wrk (-t2 -c32, bench/wrk/report.lua), same JSON
body, same uvicorn options (bench/serve.py = `supportline serve`, 2 workers), one
after another on a freshly migrated database.

Phases (all on by default):
  ceiling        FastAPI endpoint validating TicketCreate, no database (bench/ceiling_app.py)
  floor tx       bare ASGI + asyncpg: BEGIN, ticket + event + outbox INSERTs, COMMIT
  floor 1-stmt   bare ASGI + asyncpg: the three INSERTs in one statement (as the API does)
  floor direct   the `floor tx` transaction from 32 asyncpg connections, no HTTP
  real           POST /v1/tickets of the API (`supportline serve --workers 2`)

    bench/ticket_create [--duration 15] [--db sl_bench] [--only real] [--diagnostics]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import asyncpg
import psutil

from bench import common
from bench.db_floor import drive, prepare_db

PHASES = ("ceiling", "floor", "direct", "real")


async def _prepare(db: str, server: str) -> str:
    conn = await asyncpg.connect(common.dsn(db, server))
    try:
        await prepare_db(conn)
        return str(await conn.fetchval("SELECT id FROM api_keys ORDER BY created_at LIMIT 1"))
    finally:
        await conn.close()


async def _checkpoint(db: str, server: str) -> dict[str, int]:
    conn = await asyncpg.connect(common.dsn(db, server))
    try:
        await conn.execute("CHECKPOINT")
        rows = await conn.fetch(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables"
            " WHERE relname IN ('tickets', 'ticket_events', 'outbox')"
        )
        return {r["relname"]: r["n_live_tup"] for r in rows}
    finally:
        await conn.close()


def background_cpu() -> float:
    """% of the machine busy before a phase (1 s sample): other work skews the figures."""
    busy = psutil.cpu_percent(interval=1.0)
    if busy > 15:
        common.log(f"WARNING: the machine is {busy:.0f}% busy before the phase")
    return busy


def measure(
    name: str,
    srv: common.Server,
    path: str,
    a: argparse.Namespace,
    auth: str | None,
    method: str = "POST",
    body: dict[str, Any] | None = None,
) -> common.Result:
    status, text = common.probe(srv.base + path, method, body, auth)
    common.log(f"{name}: probe {method} {path} -> {status} {text[:300]}")
    if status in (0, 404, 405):
        common.log(f"{name}: endpoint missing or broken, phase skipped")
        res = common.Result(name=name, first_bad_status=status, first_bad_body=text[:600])
        res.extra["skipped"] = True
        return res
    if a.warmup:
        common.run_wrk(
            name, srv.base + path, duration=a.warmup, method=method, body=body, auth=auth
        )
    common.run(_checkpoint(a.db, a.server))
    busy = background_cpu()
    common.log(f"{name}: wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s")
    res = common.run_wrk(
        name,
        srv.base + path,
        duration=a.duration,
        method=method,
        body=body,
        auth=auth,
        connections=a.concurrency,
        rss_pid=srv.proc.pid if srv.proc else None,
    )
    res.idle_rss_mb = srv.idle_rss / 2**20
    res.extra["probe"] = {"status": status, "body": text[:600]}
    res.extra["background_cpu_pct"] = busy
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER, help="PostgreSQL server URL")
    p.add_argument("--db", default="sl_bench", help="benchmark database (recreated)")
    p.add_argument("--duration", type=int, default=15, help="seconds per phase")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per phase")
    p.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    p.add_argument("--only", action="append", choices=PHASES, help="run only these phases")
    p.add_argument(
        "--floor-modes",
        default="tx,cte",
        help="HTTP floor variants: tx (BEGIN + 3 INSERTs + COMMIT), cte (one statement)",
    )
    p.add_argument(
        "--diagnostics",
        action="store_true",
        help="also measure the real API's GET /healthz (its middleware stack, no database)",
    )
    a = p.parse_args()
    phases = a.only or list(PHASES)
    common.wrk_available()

    key = common.run(common.fresh_database(a.db, a.server))
    actor = common.run(_prepare(a.db, a.server))
    body = common.CREATE_BODY
    results: list[common.Result] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")

    if "ceiling" in phases:
        srv = common.uvicorn_server("ceiling", "bench.ceiling_app:app", common.app_env(a.db))
        with common.running(srv):
            results.append(measure("ceiling", srv, "/v1/tickets", a, None, body=body))

    if "floor" in phases:
        for mode in [m for m in a.floor_modes.split(",") if m]:
            env = common.app_env(
                a.db,
                BENCH_DSN=common.dsn(a.db, a.server),
                BENCH_ACTOR_ID=actor,
                BENCH_POOL=str(max(1, a.concurrency // common.WORKERS)),
                BENCH_FLOOR_MODE=mode,
            )
            label = {"tx": "floor tx", "cte": "floor 1-stmt"}[mode]
            srv = common.uvicorn_server(label, "bench.db_floor:app", env)
            with common.running(srv):
                results.append(measure(label, srv, "/v1/tickets", a, None, body=body))

    if "direct" in phases:
        common.log(f"floor direct: asyncpg, {a.concurrency} connections in 2 processes, no HTTP")
        common.run(_checkpoint(a.db, a.server))
        busy = background_cpu()
        d = drive(
            common.dsn(a.db, a.server),
            dict(body, _branch_id=str(common.BRANCH_ID), _contract_id=str(common.CONTRACT_ID)),
            actor,
            seconds=a.duration,
            concurrency=a.concurrency,
        )
        results.append(
            common.Result(
                name="floor direct",
                requests=d["transactions"],
                rps=d["tps"],
                p50_ms=d["p50_ms"],
                p90_ms=d["p90_ms"],
                p99_ms=d["p99_ms"],
                max_ms=d["max_ms"],
                errors=d["errors"],
                extra={"direct": d, "background_cpu_pct": busy},
            )
        )

    if "real" in phases:
        srv = common.api_server(a.db, a.server)
        with common.running(srv):
            results.append(measure("real POST", srv, "/v1/tickets", a, key, body=body))
            if a.diagnostics:
                results.append(measure("real GET /healthz", srv, "/healthz", a, None, method="GET"))

    by = {r.name: r for r in results}
    print()
    print(f"ticket_create  {started}  {common.machine()}")
    print(
        f"wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s, uvicorn --workers "
        f"{common.WORKERS} (supportline serve options), db {a.db}"
    )
    print(
        "phases: ceiling = FastAPI + TicketCreate validation, no DB; floor tx = bare ASGI +"
        " asyncpg, BEGIN/3 INSERTs/COMMIT;\n        floor 1-stmt = the 3 INSERTs in one"
        " statement; floor direct = floor tx without HTTP; real POST = POST /v1/tickets"
    )
    print()
    print(common.table(results))
    print()
    real, ceiling = by.get("real POST"), by.get("ceiling")
    if real and not real.extra.get("skipped") and real.rps:
        for other in ("ceiling", "floor tx", "floor 1-stmt", "floor direct"):
            o = by.get(other)
            if o and o.rps:
                print(f"real / {other:<13}= {real.rps / o.rps:6.1%}")
        ok_rate = bool(ceiling and ceiling.rps and real.rps >= 0.15 * ceiling.rps)
        ok_p99 = real.p99_ms < 50
        ok_proc = real.peak_worker_rss_mb is not None and real.peak_worker_rss_mb < 200
        ok_sum = real.peak_rss_mb is not None and real.peak_rss_mb < 200
        procs = ", ".join(
            f"{p['role']} {p['mb']:.0f}" for p in real.extra.get("rss_peak_mb_by_process", [])
        )
        print(
            f"API peak RSS: largest process {real.peak_worker_rss_mb:.0f} MB; all processes "
            f"{real.peak_rss_mb:.0f} MB ({procs}); idle {real.idle_rss_mb:.0f} MB"
        )
        if ceiling and ceiling.rps:
            print(f"15% of the ceiling = {0.15 * ceiling.rps:,.0f} req/s on this machine")
        print(
            "targets: rate >= 15% of ceiling: "
            + ("PASS" if ok_rate else "FAIL")
            + f"; p99 < 50 ms: {'PASS' if ok_p99 else 'FAIL'}"
            + f"; RSS < 200 MB per process: {'PASS' if ok_proc else 'FAIL'}"
            + f" (summed over master + workers: {'PASS' if ok_sum else 'FAIL'})"
            + f"; errors: {real.errors}"
        )
    busy = {r.name: r.extra.get("background_cpu_pct") for r in results}
    print(f"machine busy before each phase (%): {busy}")
    for r in results:
        if r.first_bad_status:
            print(f"\n{r.name}: first non-2xx answer: {r.first_bad_status} {r.first_bad_body}")
    counts = common.run(_checkpoint(a.db, a.server))
    print(f"\nrows now in {a.db}: {counts}")
    path = common.save(
        "ticket_create",
        {
            "started": started,
            "machine": common.machine(),
            "args": vars(a),
            "results": [r.as_dict() for r in results],
            "rows": counts,
        },
    )
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
