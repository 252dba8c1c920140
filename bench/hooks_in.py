"""bench/hooks_in: inbound alerts per second with de-duplication, side by side with the
framework's ceiling and the database floor: same wrk (-t2 -c32, bench/wrk/report.lua
sending a stream of distinct bodies), same uvicorn options (2 workers), one after another
on a freshly migrated `sl_bench_hooks`.

The stream: Alertmanager v4 payloads of one firing alert each, in which 90 % repeat one
of `--open` fingerprints whose tickets are open (opened before the phases start) and
10 % are new fingerprints (each appears once per pass over the stream, so the real
phase opens one ticket for each and counts its later passes as repeats).

Phases (all on by default):
  ceiling   FastAPI endpoint parsing the same JSON body, no database (bench/ceiling_app.py)
  floor     bare ASGI + asyncpg: per alert the repeat's writes (the alert row counted, its
            timeline event) and the request row, one transaction (bench/hooks_floor.py)
  real      POST /v1/hooks/{key} of the API (`supportline serve --workers 2`), a bearer
            source of kind alertmanager

After the real phase it checks, in the database, that no fingerprint has two tickets.

    bench/hooks_in [--duration 15] [--open 500] [--only ceiling|floor|real]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from typing import Any

import asyncpg

from bench import common
from bench.create_bench import background_cpu

PHASES = ("ceiling", "floor", "real")
KEY = "bench-am"
TOKEN = "bench-token-0123456789abcdefghijklmnopqrstuvwxyz"


def payload(fingerprint: str, n: int) -> dict[str, Any]:
    labels = {"alertname": "NodeDown", "instance": f"10.8.{n % 250}.{n % 200}:9100",
              "severity": "warning", "job": "node", "idc": "上海机房A"}  # fmt: skip
    return {
        "version": "4", "groupKey": '{}:{alertname="NodeDown"}', "truncatedAlerts": 0,
        "status": "firing", "receiver": "supportline", "groupLabels": {"alertname": "NodeDown"},
        "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://alertmanager.idc.example.cn:9093",
        "alerts": [{
            "status": "firing", "labels": labels,
            "annotations": {"summary": f"节点 {labels['instance']} 无响应 (node down)"},
            "startsAt": "2026-12-07T06:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.idc.example.cn:9090/graph?g0.expr=up",
            "fingerprint": fingerprint,
        }],
    }  # fmt: skip


def open_fingerprint(i: int) -> str:
    return f"{0xA000_0000_0000_0000 + i:016x}"


def write_stream(path: str, n_open: int, lines: int, seed: int = 7) -> int:
    """`lines` bodies, 90 % repeats of the open fingerprints, 10 % new ones; returns how
    many new ones."""
    rnd = random.Random(seed)
    new = 0
    with open(path, "w") as f:
        for i in range(lines):
            if rnd.random() < 0.1:
                fp = f"{0xB000_0000_0000_0000 + new:016x}"
                new += 1
            else:
                fp = open_fingerprint(rnd.randrange(n_open))
            f.write(json.dumps(payload(fp, i), ensure_ascii=False) + "\n")
    return new


def post(url: str, body: dict[str, Any], auth: str) -> tuple[int, str]:
    return common.probe(url, "POST", body, auth)


def create_source(base: str, admin: str) -> str:
    body = {
        "key": KEY, "name": "压测 Alertmanager (bench)", "kind": "alertmanager",
        "auth": "bearer", "secret": TOKEN, "customer_id": str(common.CUSTOMER_ID),
        "category": "hardware", "priority": "P3", "rate_limit_per_minute": 1_000_000,
    }  # fmt: skip
    status, text = post(base + "/v1/hooks/sources", body, admin)
    if status != 201:
        raise SystemExit(f"creating the source: {status} {text}")
    return str(json.loads(text)["id"])


def open_alerts(base: str, n_open: int) -> None:
    """The open fingerprints, 50 alerts a request: each opens its ticket."""
    for start in range(0, n_open, 50):
        body = payload(open_fingerprint(start), start)
        alert = body["alerts"][0]
        body["alerts"] = [{**alert, "fingerprint": open_fingerprint(i)}
                          for i in range(start, min(start + 50, n_open))]  # fmt: skip
        status, text = post(f"{base}/v1/hooks/{KEY}", body, TOKEN)
        if status not in (200, 202):
            raise SystemExit(f"opening alerts: {status} {text[:500]}")


async def checks(db: str, server: str, source_id: str) -> dict[str, int]:
    conn = await asyncpg.connect(common.dsn(db, server))
    try:
        row = await conn.fetchrow(
            """SELECT
                 (SELECT count(*) FROM hook_alerts WHERE source_id = $1) AS alerts,
                 (SELECT coalesce(sum(fire_count), 0) FROM hook_alerts WHERE source_id = $1)
                     AS fired,
                 (SELECT count(*) FROM hook_requests WHERE source_id = $1) AS requests,
                 (SELECT count(*) FROM tickets WHERE channel = 'webhook') AS tickets,
                 (SELECT count(*) FROM ticket_events WHERE type = 'alert.repeated') AS repeats,
                 (SELECT count(*) FROM (SELECT ticket_id FROM hook_alerts WHERE source_id = $1
                    AND ticket_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d) AS shared,
                 (SELECT count(*) FROM (SELECT external_ref FROM tickets
                    WHERE channel = 'webhook' GROUP BY 1 HAVING count(*) > 1) d) AS duplicated""",
            uuid.UUID(source_id),
        )
        return dict(row) if row else {}
    finally:
        await conn.close()


def measure(name: str, srv: common.Server, a: argparse.Namespace, auth: str | None,
            stream: str, sample: dict[str, Any]) -> common.Result:  # fmt: skip
    status, text = common.probe(srv.base + f"/v1/hooks/{KEY}", "POST", sample, auth)
    common.log(f"{name}: probe -> {status} {text[:300]}")
    if a.warmup:
        common.run_wrk(name, srv.base + f"/v1/hooks/{KEY}", duration=a.warmup, method="POST",
                       auth=auth, bodies_file=stream)  # fmt: skip
    busy = background_cpu()
    common.log(f"{name}: wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s")
    res = common.run_wrk(
        name, srv.base + f"/v1/hooks/{KEY}", duration=a.duration, method="POST", auth=auth,
        connections=a.concurrency, rss_pid=srv.proc.pid if srv.proc else None,
        bodies_file=stream,
    )  # fmt: skip
    res.idle_rss_mb = srv.idle_rss / 2**20
    res.extra["background_cpu_pct"] = busy
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--server", default=common.DEFAULT_SERVER, help="PostgreSQL server URL")
    p.add_argument("--db", default="sl_bench_hooks", help="benchmark database (recreated)")
    p.add_argument("--duration", type=int, default=15, help="seconds per phase")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per phase")
    p.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    p.add_argument("--open", type=int, default=500, help="open fingerprints (repeat targets)")
    p.add_argument("--lines", type=int, default=40_000, help="bodies in the stream")
    p.add_argument("--redis-db", type=int, default=11)
    p.add_argument("--only", action="append", choices=PHASES)
    a = p.parse_args()
    phases = a.only or list(PHASES)
    common.wrk_available()
    admin = common.run(common.fresh_database(a.db, a.server))
    fd, stream = tempfile.mkstemp(prefix="bench-hooks-", suffix=".jsonl")
    os.close(fd)
    new = write_stream(stream, a.open, a.lines)
    common.log(f"stream: {a.lines:,} bodies, {new:,} new fingerprints, the rest repeats")
    sample = payload(open_fingerprint(0), 0)
    results: list[common.Result] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    redis_url = f"redis://127.0.0.1:6379/{a.redis_db}"
    api = common.api_server(a.db, a.server)
    api.env = {**api.env, "REDIS_URL": redis_url, "MAIL_ENABLED": "false"}
    found: dict[str, int] = {}
    try:
        with common.running(api):
            source_id = create_source(api.base, admin)
            common.log(f"opening {a.open} alerts")
            open_alerts(api.base, a.open)
            actor = "01a20a8b-77d6-7100-8000-000000000003"  # app.access.defaults.HOOKS_ID
            if "ceiling" in phases:
                srv = common.uvicorn_server("ceiling", "bench.ceiling_app:app",
                                            common.app_env(a.db))  # fmt: skip
                with common.running(srv):
                    results.append(measure("ceiling", srv, a, None, stream, sample))
            if "floor" in phases:
                env = common.app_env(a.db, BENCH_DSN=common.dsn(a.db, a.server),
                                     BENCH_SOURCE_ID=source_id, BENCH_ACTOR_ID=actor,
                                     BENCH_POOL=str(max(1, a.concurrency // common.WORKERS)))  # fmt: skip
                srv = common.uvicorn_server("floor", "bench.hooks_floor:app", env)
                with common.running(srv):
                    results.append(measure("floor", srv, a, None, stream, sample))
            if "real" in phases:
                before = common.run(checks(a.db, a.server, source_id))
                results.append(measure("real", api, a, TOKEN, stream, sample))
                found = common.run(checks(a.db, a.server, source_id))
                found = {f"{k}_before": int(before.get(k, 0)) for k in before} | {
                    k: int(v) for k, v in found.items()
                }
    finally:
        os.unlink(stream)
    print(f"\n# hooks in  ({common.machine()}, started {started})")
    print(f"wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s, one alert per "
          f"request, 90 % repeats of {a.open} open fingerprints\n")  # fmt: skip
    print(common.table(results))
    if found:
        print(f"\nreal phase, in the database: alerts {found['alerts']:,} (before "
              f"{found['alerts_before']:,}), webhook tickets {found['tickets']:,} (before "
              f"{found['tickets_before']:,}), alert.repeated events {found['repeats']:,}, "
              f"fingerprints with two tickets {found['duplicated']}, tickets shared by two "
              f"fingerprints {found['shared']}")  # fmt: skip
    common.log(f"saved {common.save('hooks_in', {'args': vars(a), 'results': [r.as_dict() for r in results], 'db': found})}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
