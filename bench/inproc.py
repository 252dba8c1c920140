"""bench/inproc: the API's own CPU per request, in one process, with no HTTP server.

Drives `app.main:app` as a bare ASGI callable (no uvicorn, no sockets) with N concurrent
tasks and divides the process's CPU time by the number of requests. What it leaves out
(HTTP parsing, about 0.02 ms) is the same for every route, so the figure is the route's
own cost: dependencies, validation, round trips on asyncpg's client side, the answer.
It is steadier than wrk's figure on a busy machine (no scheduler noise between
processes), which makes it the tool for before/after comparisons of a change; the
closing figures still come from bench/ticket_create and bench/ticket_list.

    .venv/bin/python -m bench.inproc create [--requests 4000] [--concurrency 16]
    .venv/bin/python -m bench.inproc list --db sl_bench_1m [--path '/v1/tickets?limit=50']
    .venv/bin/python -m bench.inproc ceiling    # bench/ceiling_app.py, the framework alone
    ... --profile out.prof    # cProfile of the measured part

The event loop is uvloop, as under `supportline serve` (uvicorn's `loop="auto"` picks it
when installed, and `uvicorn[standard]` installs it): on the stdlib loop an asyncpg round
trip costs the client about three times the CPU (123 µs against 43 µs for `SELECT 1`), so
figures taken there would not be what the server pays. `--loop asyncio` for comparison.

bench/instructions runs this under callgrind twice to count instructions per request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time
from collections.abc import Coroutine
from typing import Any

import asyncpg
import orjson

from bench import common


def _scope(method: str, path: str, key: str, body: bytes) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _one(app: Any, method: str, path: str, key: str, body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, key, body), receive, send)
    return status


async def _drive(app: Any, a: argparse.Namespace, key: str, body: bytes) -> dict[str, Any]:
    method = "GET" if a.what == "list" else "POST"
    path = a.path or ("/v1/tickets?limit=50" if a.what == "list" else "/v1/tickets")
    payload = body if method == "POST" else b""
    bad: dict[int, int] = {}
    remaining = a.requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status = await _one(app, method, path, key, payload)
            if status >= 300:
                bad[status] = bad.get(status, 0) + 1

    # Warm-up at the same concurrency, so both pools have their connections (and each
    # its prepared statements) before the measured part: a connection opened during it
    # would cost the API its set-up and hide its backend from the PostgreSQL column.
    remaining = a.warmup
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    bad.clear()
    remaining = a.requests
    pg = await _backends(a) if a.what != "ceiling" else []
    pg0 = _ticks(pg)
    prof = cProfile.Profile() if a.profile else None
    t0, wall0 = os.times(), time.perf_counter()
    if prof:
        prof.enable()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    t1, wall = os.times(), time.perf_counter() - wall0
    user, system = t1.user - t0.user, t1.system - t0.system
    pg_cpu = (_ticks(pg) - pg0) / os.sysconf("SC_CLK_TCK")
    return {
        "requests": a.requests,
        "cpu_ms_per_request": 1000 * (user + system) / a.requests,
        # The kernel's share is mostly the socket writes to PostgreSQL (loopback TCP).
        "system_ms_per_request": 1000 * system / a.requests,
        "pg_cpu_ms_per_request": 1000 * pg_cpu / a.requests if pg else None,
        "wall_s": wall,
        "req_per_s": a.requests / wall,
        "non_2xx": bad,
    }


async def _backends(a: argparse.Namespace) -> list[int]:
    """The PostgreSQL backends of this process's pools (their CPU is the database's
    share of these requests; other databases' work on the server is not counted)."""
    conn = await asyncpg.connect(common.dsn(a.db or "sl_bench_inproc", a.server))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'supportline' AND pid <> pg_backend_pid()"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def _ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass  # a backend that ended: its last ticks are lost (noted in the README)
    return total


def _run(loop: str, coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Runs `coro` on the loop the server would use (see the module docstring)."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("create", "list", "ceiling"))
    p.add_argument("--server", default=common.DEFAULT_SERVER)
    p.add_argument("--db", default=None, help="default: sl_bench_inproc (recreated) for create")
    p.add_argument("--path", default=None)
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--warmup", type=int, default=200, help="requests before the measured part")
    p.add_argument("--profile", default=None, help="write a cProfile of the measured part")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the event loop")
    a = p.parse_args()
    if a.what == "ceiling":
        from bench.ceiling_app import app as ceiling

        res = _run(a.loop, _drive(ceiling, a, "", orjson.dumps(common.CREATE_BODY)))
        print(_summary(a, res))
        return 0
    db = a.db or "sl_bench_inproc"
    if a.what == "create" and a.db is None:
        key = common.run(common.fresh_database(db, a.server))
    else:
        key = common.create_api_key(db, a.server)
    os.environ.update(common.app_env(db, a.server))
    os.environ["LOG_LEVEL"] = "WARNING"
    from app.main import create_app

    app = create_app()

    async def go() -> dict[str, Any]:
        async with app.router.lifespan_context(app):
            return await _drive(app, a, key, orjson.dumps(common.CREATE_BODY))

    res = _run(a.loop, go())
    print(_summary(a, res))
    return 0


def _summary(a: argparse.Namespace, res: dict[str, Any]) -> str:
    return (
        f"{a.what}: {res['requests']} requests, c={a.concurrency}, {a.loop}: "
        f"{res['cpu_ms_per_request']:.3f} ms CPU/request (API process, in-process ASGI; "
        f"{res['system_ms_per_request']:.3f} of it in the kernel), "
        + (
            f"{res['pg_cpu_ms_per_request']:.3f} ms PostgreSQL CPU/request (its backends), "
            if res.get("pg_cpu_ms_per_request") is not None
            else ""
        )
        + f"{res['req_per_s']:.0f} req/s, non-2xx {res['non_2xx']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
