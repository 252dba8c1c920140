"""bench/ticket_list: GET /v1/tickets against the seeded database (bench/seed), the real
API under uvicorn with 2 workers (supportline serve), wrk -t2 -c32 per query shape:

  first page      ?limit=50
  filtered page   ?status=in_progress&priority=P2&limit=50
  deep page       ?limit=50&cursor=<id ~500,000 rows deep>
  search 中文     ?q=告警&limit=50          (a common two-character word)
  search English  ?q=flapping&limit=50
  search rare     ?q=<a device serial>&limit=50
  branch scoped   ?limit=50 with an engineer key scoped to one branch

    bench/ticket_list [--duration 15] [--db sl_bench_1m] [--explain] [--only NAME ...]

--explain prints EXPLAIN (ANALYZE, BUFFERS) of the SQL the API builds for each shape
(app.tickets.repository.list_query with the same parameters).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
import uuid
from typing import Any

import asyncpg

from bench import common
from bench.create_bench import background_cpu

TARGET_MS = {"search": 150.0}
DEFAULT_TARGET_MS = 30.0


async def _context(db: str, server: str, depth: int) -> dict[str, Any]:
    conn = await asyncpg.connect(common.dsn(db, server))
    try:
        n = await conn.fetchval("SELECT count(*) FROM tickets")
        deep_id = await conn.fetchval(
            "SELECT id FROM tickets ORDER BY id DESC OFFSET $1 LIMIT 1", min(depth, max(n - 1, 0))
        )
        serial = await conn.fetchval(
            "SELECT d.serial FROM tickets t JOIN devices d ON d.id = t.device_id"
            " ORDER BY t.id DESC OFFSET 1000 LIMIT 1"
        )
        branch = await conn.fetchval(
            "SELECT branch_id FROM tickets GROUP BY branch_id ORDER BY count(*) DESC LIMIT 1"
        )
        return {"count": n, "deep_id": deep_id, "serial": serial, "branch": branch}
    finally:
        await conn.close()


def shapes(ctx: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    from app.core.pagination import encode_cursor

    cursor = encode_cursor(ctx["deep_id"]) if ctx["deep_id"] else ""
    return [
        ("first page", {"limit": 50}, "admin"),
        ("filtered page", {"status": "in_progress", "priority": "P2", "limit": 50}, "admin"),
        ("deep page", {"limit": 50, "cursor": cursor}, "admin"),
        ("search 中文 告警", {"q": "告警", "limit": 50}, "admin"),
        ("search English flapping", {"q": "flapping", "limit": 50}, "admin"),
        ("search rare (serial)", {"q": ctx["serial"] or "SN0000", "limit": 50}, "admin"),
        ("first page, branch key", {"limit": 50}, "branch"),
    ]


def kind(name: str) -> str:
    return "search" if name.startswith("search") else "page"


async def explain(db: str, server: str, params: dict[str, Any], branch: uuid.UUID | None) -> str:
    """EXPLAIN ANALYZE of the statement the API builds for these parameters."""
    from app.core.pagination import decode_cursor
    from app.core.search import query as search_query
    from app.core.security import Principal, Role
    from app.tickets.repository import TicketFilters, list_query

    principal = Principal(
        uuid.uuid4(), "bench", Role.admin if branch is None else Role.engineer, branch
    )
    f = TicketFilters(
        status=[params["status"]] if "status" in params else None,
        priority=[params["priority"]] if "priority" in params else None,
        tsquery=search_query(params["q"]) if "q" in params else None,
    )
    after = decode_cursor(params["cursor"]) if params.get("cursor") else None
    sql, args = list_query(principal, f, after, int(params.get("limit", 50)))
    conn = await asyncpg.connect(common.dsn(db, server))
    try:
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", default="sl_bench_1m", help="database seeded by bench/seed")
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    p.add_argument("--depth", type=int, default=500_000, help="rows before the deep page")
    p.add_argument("--explain", action="store_true", help="print the query plans too")
    p.add_argument("--only", action="append", help="run shapes whose name contains this")
    a = p.parse_args()
    common.wrk_available()
    if not common.run(common.database_exists(a.db, a.server)):
        raise SystemExit(f"database {a.db} does not exist: run bench/seed first")
    ctx = common.run(_context(a.db, a.server, a.depth))
    if ctx["count"] < 1000:
        raise SystemExit(f"{a.db} has {ctx['count']} tickets: run bench/seed first")
    common.log(f"{a.db}: {ctx['count']:,} tickets; deep cursor at row {a.depth:,}")
    admin = common.create_api_key(a.db, a.server)
    branch_key = common.create_api_key(a.db, a.server, "engineer", ctx["branch"])
    keys = {"admin": admin, "branch": branch_key}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results: list[common.Result] = []
    plans: dict[str, str] = {}
    srv = common.api_server(a.db, a.server)
    with common.running(srv):
        for name, params, who in shapes(ctx):
            if a.only and not any(o in name for o in a.only):
                continue
            url = f"{srv.base}/v1/tickets?{urllib.parse.urlencode(params)}"
            status, text = common.probe(url, auth=keys[who])
            common.log(f"{name}: probe -> {status} {text[:160]}")
            if status != 200:
                res = common.Result(name=name, first_bad_status=status, first_bad_body=text[:600])
                res.extra["skipped"] = True
                results.append(res)
                continue
            if a.warmup:
                common.run_wrk(name, url, duration=a.warmup, auth=keys[who])
            busy = background_cpu()
            common.log(f"{name}: wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s")
            res = common.run_wrk(
                name,
                url,
                duration=a.duration,
                auth=keys[who],
                connections=a.concurrency,
                rss_pid=srv.proc.pid if srv.proc else None,
            )
            res.extra["url"] = url
            res.extra["background_cpu_pct"] = busy
            results.append(res)
            if a.explain:
                plans[name] = common.run(
                    explain(a.db, a.server, params, ctx["branch"] if who == "branch" else None)
                )

    print()
    print(f"ticket_list  {started}  {common.machine()}")
    print(
        f"{ctx['count']:,} tickets in {a.db}; wrk -t{common.WRK_THREADS} -c{a.concurrency} "
        f"-d{a.duration}s; uvicorn --workers {common.WORKERS} (supportline serve)"
    )
    print()
    print(common.table(results))
    print()
    for r in results:
        if r.extra.get("skipped"):
            print(f"{r.name}: SKIPPED, probe answered {r.first_bad_status} {r.first_bad_body}")
            continue
        target = TARGET_MS.get(kind(r.name), DEFAULT_TARGET_MS)
        verdict = "PASS" if r.p99_ms < target and not r.errors else "FAIL"
        print(f"{r.name:<26} p99 {r.p99_ms:7.2f} ms  target < {target:.0f} ms: {verdict}")
        if r.first_bad_status:
            print(f"    first non-2xx: {r.first_bad_status} {r.first_bad_body}")
    print(
        "machine busy before each phase (%): "
        + str({r.name: r.extra.get("background_cpu_pct") for r in results})
    )
    peak = max((r.peak_rss_mb or 0 for r in results), default=0)
    print(f"API peak RSS during the list phases: {peak:.0f} MB (master + workers)")
    for name, plan in plans.items():
        print(f"\n--- EXPLAIN ANALYZE: {name}\n{plan}")
    path = common.save(
        "ticket_list",
        {
            "started": started,
            "machine": common.machine(),
            "args": vars(a),
            "tickets": ctx["count"],
            "results": [r.as_dict() for r in results],
            "plans": plans,
        },
    )
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
