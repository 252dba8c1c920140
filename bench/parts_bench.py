"""bench/parts: spare parts (issue 11) under load. Prints figures, asserts nothing.

    bench/parts reserve [--duration 15] [--concurrency 32] [--only race|hot|spread|floor]
    bench/parts stock   [--duration 15] [--stock-concurrency 1,4,32]   (after bench/parts_seed)

`reserve` works on a **recreated** `sl_bench_parts`, the API run as `supportline serve
--workers 2` (bench/common.py), its parts, warehouses and stock made over the API
(POST /v1/parts, /v1/warehouses, /v1/stock/receipts) and its tickets by wrk on
POST /v1/tickets beforehand:

  race    64 clients at once, each on its own ticket, ask for 1 unit of a part that has
          exactly 10 units in one warehouse (POST /v1/tickets/{id}/part-requests with
          warehouse_id): how many 201 / 409 / other, the balance after, stock-check.
          --race-rounds rounds, a new part each.
  hot     wrk, c clients, each request a part request for 1 unit of ONE part in one
          warehouse (1,000,000 on hand), each on a ticket of its own, for --duration s:
          req/s, p50/p99, and the oversell check (reserved == part requests written ==
          active reservation units, on_hand >= reserved) against the 201s wrk saw.
  spread  the same with one part in 100 warehouses, the warehouse_id drawn per request.
  floor   the database's own limit: bench/parts_floor.py, raw asyncpg (lock the balance
          FOR UPDATE, check, UPDATE reserved, INSERT the reservation, COMMIT) in a loop,
          on one hot row and over the 100 warehouses, at the same concurrency, no HTTP.

`stock` works on `sl_bench_parts_5m` (bench/parts_seed: 10,000 parts x 100 warehouses,
5,000,000 ledger rows): GET /v1/parts/{id}/stock for random parts, now and ?as_of= a past
instant, at each --concurrency; EXPLAIN (ANALYZE, BUFFERS) of the as-of query for one
part; then `supportline stock-check` over the 5M rows, timed.

The API's Redis is database --redis-db (9). Results also go to bench/results/parts-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench import common
from bench.parts_floor import drive as floor_drive

DB = "sl_bench_parts"
DB_5M = "sl_bench_parts_5m"
RESERVE_PHASES = ("race", "hot", "spread", "floor")
TARGET_RPS = 500.0
TARGET_STOCK_P99_MS = 20.0
TARGET_CHECK_S = 60.0

# The wrk script: `reserve` POSTs a part request per request, each on the next ticket of
# its thread's share of the file (lines "ticket_id,warehouse_id"); `stock` GETs the
# stock of a random part of the file (lines "part_id") with PARTS_SUFFIX after it.
LUA = r"""
local mode = os.getenv("PARTS_MODE")
local file = os.getenv("PARTS_FILE")
local part_id = os.getenv("PARTS_PART_ID") or ""
local suffix = os.getenv("PARTS_SUFFIX") or ""
local nthreads = tonumber(os.getenv("PARTS_THREADS"))
local auth = os.getenv("BENCH_AUTH")
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n201, n2xx, n409, nother, wrapped, first_status, first_body = 0, 0, 0, 0, 0, 0, ""
  items, pos = {}, 0
  local i = 0
  for line in io.lines(file) do
    if mode == "stock" or i % nthreads == tid then table.insert(items, line) end
    i = i + 1
  end
  headers = {["Accept"] = "application/json", ["Authorization"] = auth,
             ["Content-Type"] = "application/json"}
  math.randomseed(os.time() + tid * 7919)
end

function request()
  if mode == "stock" then
    local p = items[math.random(#items)]
    return wrk.format("GET", "/v1/parts/" .. p .. "/stock" .. suffix, headers, nil)
  end
  pos = pos + 1
  if pos > #items then pos, wrapped = 1, wrapped + 1 end
  local t, w = string.match(items[pos], "([^,]+),([^,]+)")
  local body = '{"lines":[{"part_id":"' .. part_id .. '","quantity":1,"warehouse_id":"'
    .. w .. '"}],"destination":"site"}'
  return wrk.format("POST", "/v1/tickets/" .. t .. "/part-requests", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then n201 = n201 + 1 end
  if status >= 200 and status < 300 then n2xx = n2xx + 1
  elseif status == 409 then n409 = n409 + 1
  else
    nother = nother + 1
    if first_status == 0 then first_status, first_body = status, string.sub(body or "", 1, 600) end
  end
end

local function esc(s)
  s = string.gsub(s, "\\", "\\\\")
  s = string.gsub(s, '"', '\\"')
  return (string.gsub(s, "[%c]", " "))
end

function done(summary, latency, requests)
  local c = {n201 = 0, n2xx = 0, n409 = 0, nother = 0, wrapped = 0}
  local status, body = 0, ""
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
    if status == 0 and (t:get("first_status") or 0) ~= 0 then
      status, body = t:get("first_status"), t:get("first_body") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    'PARTS_RESULT {"requests":%d,"duration_us":%d,"n201":%d,"n2xx":%d,"n409":%d,' ..
    '"nother":%d,"wrapped":%d,"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"first_bad_status":%d,"first_bad_body":"%s"}\n',
    summary.requests, summary.duration, c.n201, c.n2xx, c.n409, c.nother, c.wrapped,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, status, esc(body)))
end
"""


def revision() -> str:
    """The commit measured (and whether app/ had uncommitted changes): the tree is shared
    and moves while benches run."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in app/" if dirty else "")


def redis_url(n: int) -> str:
    return f"redis://127.0.0.1:6379/{n}"


def env_for(db: str, a: argparse.Namespace) -> dict[str, str]:
    return common.app_env(db, a.server, REDIS_URL=redis_url(a.redis_db))


def api(db: str, a: argparse.Namespace) -> common.Server:
    """The real API as `supportline serve --workers 2` runs it (common.api_server), with
    this bench's Redis database."""
    port = common.free_port()
    cmd = [common.SUPPORTLINE, "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(common.WORKERS)]  # fmt: skip
    return common.Server("api", cmd, env_for(db, a), port, ready_path="/readyz")


OTHERS: dict[str, float] = {}  # what else ran: the busiest other processes seen, % of a core


def busy_before() -> float:
    """% of the machine busy in the second before a phase, and who else was busy then
    (processes using more than 10% of a core; remembered in OTHERS for the summary)."""
    procs = list(psutil.process_iter(["name"]))
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
    busy = psutil.cpu_percent(interval=1.0)
    seen = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            pct = p.cpu_percent(None)
            if pct > 10:
                name = p.info["name"] or "?"
                seen.append(f"{name} {pct:.0f}%")
                OTHERS[name] = max(OTHERS.get(name, 0.0), pct)
    if busy > 15:
        common.log(f"WARNING: the machine is {busy:.0f}% busy before the phase: "
                   + (", ".join(seen) or "no single process above 10%"))  # fmt: skip
    return busy


async def backends(dsn: str) -> list[int]:
    """The PostgreSQL backends connected to this database (the API's pools, once warm):
    their CPU is this database's share, whatever else the server runs meanwhile."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def backend_cpu(pids: list[int]) -> float:
    """CPU seconds (utime + stime) used so far by these processes (ended ones count 0)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- wrk --------------------------------------------------------------------------------


def wrk(name: str, srv: common.Server, key: str, *, mode: str, lines: list[str],
        duration: int, connections: int, part_id: str = "", suffix: str = "",
        rss: bool = True, dsn: str | None = None) -> common.Result:  # fmt: skip
    """wrk -t2 with the script above; CPU of the API, PostgreSQL and wrk per request
    (common.CpuMeter; with `dsn`, also of this database's backends alone: "pg_db"), peak
    RSS of the API (common.RssSampler)."""
    pids = common.run(backends(dsn)) if dsn else []
    db0 = backend_cpu(pids)
    threads = min(common.WRK_THREADS, connections)  # wrk wants a connection per thread
    tmp = Path(tempfile.mkdtemp(prefix="bench-parts-"))
    (tmp / "parts.lua").write_text(LUA)
    (tmp / "items.txt").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, PARTS_MODE=mode, PARTS_FILE=str(tmp / "items.txt"),
               PARTS_PART_ID=part_id, PARTS_SUFFIX=suffix,
               PARTS_THREADS=str(threads), BENCH_AUTH=f"Bearer {key}")  # fmt: skip
    cmd = [common.wrk_available(), f"-t{threads}", f"-c{connections}",
           f"-d{duration}s", "--timeout", "10s", "-s", str(tmp / "parts.lua"), srv.base]  # fmt: skip
    assert srv.proc is not None
    sampler = common.RssSampler(srv.proc.pid).start() if rss else None
    meter = common.CpuMeter(srv.proc.pid)
    kids0 = os.times()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        if sampler:
            sampler.stop()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    cpu = meter.stop()
    if pids:
        cpu["pg_db"] = backend_cpu(pids) - db0
    kids1 = os.times()
    cpu["wrk"] = (kids1.children_user - kids0.children_user) + (
        kids1.children_system - kids0.children_system
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PARTS_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    seconds = raw["duration_us"] / 1e6
    bad = raw["requests"] - raw["n2xx"]
    res = common.Result(
        name=name, requests=raw["requests"], rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000, non2xx=bad, socket_errors=raw["socket_errors"],
        errors=bad + raw["socket_errors"], first_bad_status=raw["first_bad_status"],
        first_bad_body=raw["first_bad_body"], extra={"wrk": raw, "cpu_s": cpu},
    )  # fmt: skip
    if raw["requests"]:
        res.extra["cpu_ms_per_request"] = {
            k: round(1000 * v / raw["requests"], 3) for k, v in cpu.items()
        }
    if sampler:
        res.peak_rss_mb = sampler.peak_total / 2**20
        res.peak_worker_rss_mb = sampler.peak_single / 2**20
    return res


class LockWaits:
    """Samples pg_stat_activity every 100 ms during a phase: how many of the database's
    backends are running a statement, and how many of those wait for a row lock (a hot
    balance queues its requests there)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                row = await conn.fetchrow(
                    "SELECT count(*) FILTER (WHERE state = 'active') AS active,"
                    " count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock')"
                    " AS waiting FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                self.samples.append((row["active"], row["waiting"]))
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        n = len(self.samples) or 1
        return {"active": sum(s[0] for s in self.samples) / n,
                "lock_waiting": sum(s[1] for s in self.samples) / n}  # fmt: skip


# --- setup over the API -------------------------------------------------------------------


class Api:
    """Setup calls over HTTP (not measured)."""

    def __init__(self, base: str, key: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=60,
                                        headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        self.n = 0

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.post(path, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"POST {path} -> {r.status_code} {r.text[:500]}")
        return dict(r.json())

    async def part(self, label: str) -> uuid.UUID:
        self.n += 1
        body = {"number": f"P-BENCH-{label}-{self.n}", "name": f"交流电源模块 {label}",
                "name_en": f"AC power module {label}", "unit_cost": "100.00",
                "fits": [{"product_family": "switch", "model": ""}]}  # fmt: skip
        return uuid.UUID((await self.post("/v1/parts", body))["id"])

    async def warehouse(self, code: str) -> uuid.UUID:
        body = {"code": code, "name": f"备件库 {code}", "kind": "branch",
                "branch_id": str(common.BRANCH_ID), "address": "北京市海淀区中关村大街 1 号"}  # fmt: skip
        return uuid.UUID((await self.post("/v1/warehouses", body))["id"])

    async def receive(self, part: uuid.UUID, wh: uuid.UUID, quantity: int) -> None:
        """In receipts of at most 100,000 (the API's limit per receipt)."""
        while quantity > 0:
            n = min(quantity, 100_000)
            await self.post("/v1/stock/receipts", {"part_id": str(part), "warehouse_id": str(wh),
                                                   "quantity": n})  # fmt: skip
            quantity -= n

    async def close(self) -> None:
        await self.client.aclose()


async def ticket_ids(dsn: str) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM tickets ORDER BY id")]
    finally:
        await conn.close()


def make_tickets(srv: common.Server, key: str, dsn: str, n: int) -> list[uuid.UUID]:
    """At least `n` tickets, made by wrk on POST /v1/tickets (the fixture body)."""
    have = len(common.run(ticket_ids(dsn)))
    while have < n:
        secs = max(2, min(30, (n - have) // 350 + 1))
        common.log(f"tickets: {have:,} of {n:,}; wrk POST /v1/tickets for {secs} s")
        r = common.run_wrk("tickets", srv.base + "/v1/tickets", duration=secs, method="POST",
                           body=common.CREATE_BODY, auth=key)  # fmt: skip
        if r.errors:
            raise RuntimeError(f"ticket creation failed: {r.first_bad_status} {r.first_bad_body}")
        have = len(common.run(ticket_ids(dsn)))
    return common.run(ticket_ids(dsn))


class Pool:
    """Tickets handed out once each: every part request of the bench has its own. Made
    by wrk on POST /v1/tickets as needed."""

    def __init__(self, srv: common.Server, key: str, dsn: str) -> None:
        self.srv, self.key, self.dsn = srv, key, dsn
        self.ids: list[uuid.UUID] = []
        self.used: set[uuid.UUID] = set()

    def ensure(self, n: int) -> None:
        """At least `n` tickets not handed out yet; the statistics refreshed after."""
        free = len(self.ids) - len(self.used)
        if free >= n:
            return
        self.ids = make_tickets(self.srv, self.key, self.dsn, len(self.ids) + n - free)
        common.run(analyze(self.dsn))

    def take(self, n: int) -> list[uuid.UUID]:
        self.ensure(n)
        out = [t for t in self.ids if t not in self.used][:n]
        self.used.update(out)
        return out


async def analyze(dsn: str) -> None:
    """ANALYZE the whole database. Its tables grew from nothing to thousands of rows in
    seconds, faster than autovacuum looks (autovacuum_naptime 1 min), and a plan made on
    the empty tables' statistics is not what a live system runs: sla's
    lock_clock_timers took 13 ms instead of 0.2 ms on them (bench/README.md)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def drain(dsn: str, limit: float = 60.0) -> float:
    """Waits until no statement of the database runs (the warm-up's last requests, queued
    on a hot row, finish after wrk stops); returns the seconds waited."""
    conn = await asyncpg.connect(dsn)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < limit:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state <> 'idle' AND pid <> pg_backend_pid()"
            )
            if not busy:
                break
            await asyncio.sleep(0.2)
        return time.perf_counter() - t0
    finally:
        await conn.close()


# --- checks -----------------------------------------------------------------------------


async def stock_state(dsn: str, part: uuid.UUID) -> dict[str, int]:
    """The part's balances against what was written: part requests, active reservations."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT COALESCE(sum(on_hand), 0) FROM stock_balances WHERE part_id = $1)
                       AS on_hand,
                   (SELECT COALESCE(sum(reserved), 0) FROM stock_balances WHERE part_id = $1)
                       AS reserved,
                   (SELECT count(*) FROM part_requests WHERE part_id = $1) AS requests,
                   (SELECT COALESCE(sum(quantity), 0) FROM part_reservations
                     WHERE part_id = $1 AND state = 'active') AS held,
                   (SELECT count(*) FROM stock_balances
                     WHERE part_id = $1 AND reserved > on_hand) AS oversold_rows
            """,
            part,
        )
        return {k: int(v) for k, v in dict(row).items()}
    finally:
        await conn.close()


def stock_check(db: str, a: argparse.Namespace) -> tuple[str, float, int]:
    """`supportline stock-check` against `db`: its last line, wall seconds, exit code."""
    t0 = time.perf_counter()
    out = subprocess.run([common.SUPPORTLINE, "stock-check"], env=env_for(db, a),
                         cwd=common.ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - t0
    lines = (out.stdout.strip() or out.stderr.strip() or "(no output)").splitlines()
    if out.stderr.strip():
        common.log("stock-check stderr: " + out.stderr.strip()[-1500:])
    return lines[-1], wall, out.returncode


# --- reserve: the race ------------------------------------------------------------------


async def race_round(base: str, key: str, tickets: list[uuid.UUID], part: uuid.UUID,
                     wh: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    """All clients connected first, then released at once by one event."""
    limits = httpx.Limits(max_connections=len(tickets), max_keepalive_connections=len(tickets))
    body = {"lines": [{"part_id": str(part), "quantity": 1, "warehouse_id": str(wh)}],
            "destination": "site"}  # fmt: skip
    go = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {key}"}) as c:  # fmt: skip

        async def connect() -> None:
            await c.get("/healthz")
            await go.wait()

        async def one(t: uuid.UUID) -> tuple[int, str, float]:
            await go.wait()
            t0 = time.perf_counter()
            r = await c.post(f"/v1/tickets/{t}/part-requests", json=body)
            return r.status_code, r.text, time.perf_counter() - t0

        # Each client holds a connection open before the start (the GETs overlap).
        warm = [asyncio.create_task(connect()) for _ in tickets]
        await asyncio.sleep(0.5)
        tasks = [asyncio.create_task(one(t)) for t in tickets]
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        go.set()
        res = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
        await asyncio.gather(*warm)
    codes: dict[int, int] = {}
    for status, _, _ in res:
        codes[status] = codes.get(status, 0) + 1
    other = next((text for status, text, _ in res if status not in (201, 409)), None)
    sample409 = next((text for status, text, _ in res if status == 409), None)
    return {"codes": codes, "wall_s": wall, "max_latency_s": max(r[2] for r in res),
            "first_other": other[:600] if other else None,
            "sample_409": sample409[:400] if sample409 else None}  # fmt: skip


def run_race(a: argparse.Namespace, srv: common.Server, key: str, setup: dict[str, Any],
             pool: Pool, dsn: str) -> list[dict[str, Any]]:  # fmt: skip
    rounds = []
    for i, part in enumerate(setup["race_parts"]):
        tickets = pool.take(a.race_clients)
        r = common.run(race_round(srv.base, key, tickets, part, setup["race_wh"]))
        r["state"] = common.run(stock_state(dsn, part))
        r["part_id"] = str(part)
        rounds.append(r)
        c, s = r["codes"], r["state"]
        other = sum(n for k, n in c.items() if k not in (201, 409))
        common.log(
            f"race {i + 1}: 201 x{c.get(201, 0)}, 409 x{c.get(409, 0)}, other x{other}; "
            f"balance on_hand {s['on_hand']} reserved {s['reserved']} available "
            f"{s['on_hand'] - s['reserved']}; {r['wall_s'] * 1000:.0f} ms"
        )
    return rounds


# --- reserve: throughput ----------------------------------------------------------------


def run_load(name: str, a: argparse.Namespace, srv: common.Server, key: str, pool: Pool,
             dsn: str, part: uuid.UUID, warehouses: list[uuid.UUID]) -> dict[str, Any]:  # fmt: skip
    """Warm-up at `--per-second` tickets a second, then tickets for twice the rate the
    warm-up reached (each request a fresh ticket), drain, measure."""
    rng = random.Random(11)

    def lines(n: int) -> list[str]:
        return [f"{t},{warehouses[0] if len(warehouses) == 1 else rng.choice(warehouses)}"
                for t in pool.take(n)]  # fmt: skip

    before = common.run(stock_state(dsn, part))
    warm = wrk(f"{name} warm-up", srv, key, mode="reserve",
               lines=lines(a.warmup * a.per_second), duration=a.warmup,
               connections=a.concurrency, part_id=str(part), rss=False)  # fmt: skip
    need = int(2 * warm.rps * a.duration) + 4 * a.concurrency
    run_lines = lines(need)
    waited = common.run(drain(dsn))
    common.run(_checkpoint(dsn))
    common.log(f"{name}: warm-up {warm.rps:.0f}/s; {need:,} fresh tickets for the run; "
               f"drained {waited:.1f} s")  # fmt: skip
    busy = busy_before()
    common.log(f"{name}: wrk -t{common.WRK_THREADS} -c{a.concurrency} -d{a.duration}s")
    spy = Profiler(a, srv, name) if a.profile else None
    with LockWaits(dsn) as waits, spy or contextlib.nullcontext():
        res = wrk(name, srv, key, mode="reserve", lines=run_lines, duration=a.duration,
                  connections=a.concurrency, part_id=str(part), dsn=dsn)  # fmt: skip
    if spy is not None:
        res.extra["profile"] = spy.report()
    common.run(drain(dsn))  # requests in flight when wrk stopped finish on the server
    after = common.run(stock_state(dsn, part))
    res.extra["background_cpu_pct"] = busy
    res.extra["lock_waits"] = waits.summary()
    seen201 = warm.extra["wrk"]["n201"] + res.extra["wrk"]["n201"]
    written = after["requests"] - before["requests"]
    res.extra["check"] = {"before": before, "after": after, "wrk_201": seen201,
                          "requests_written": written,
                          "in_flight_at_stop": written - seen201,
                          "wrapped": res.extra["wrk"]["wrapped"]}  # fmt: skip
    return {"result": res, "warmup": warm}


class Profiler:
    """--profile: py-spy records one API worker during a load phase (from 1 s in, for
    the phase's duration less 2 s), summarised by bench/profile_api.py. py-spy slows the
    worker it samples a little (--nonblocking keeps it from pausing it)."""

    def __init__(self, a: argparse.Namespace, srv: common.Server, name: str) -> None:
        from bench.profile_api import pyspy, workers

        assert srv.proc is not None
        self.top = a.profile_top
        self.raw = common.RESULTS / f"pyspy-parts-{name.split()[-1]}-{time.strftime('%H%M%S')}.txt"
        common.RESULTS.mkdir(exist_ok=True)
        self.cmd = [os.environ.get("PY_SPY") or pyspy(), "record", "--pid",
                    str(workers(srv.proc.pid)[0]), "--duration", str(max(1, a.duration - 2)),
                    "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(self.raw)]  # fmt: skip
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        time.sleep(1)
        subprocess.run(self.cmd, check=False, capture_output=True)

    def __enter__(self) -> Profiler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def report(self) -> str:
        from bench.profile_api import summarize

        if not self.raw.exists():
            return "py-spy wrote nothing"
        return (f"{app_breakdown(self.raw, 'create_part_requests', self.top)}\n\n"
                f"{summarize(self.raw, self.top)}\ncollapsed stacks: {self.raw}")  # fmt: skip


def app_breakdown(raw: Path, endpoint: str, top: int) -> str:
    """The application's functions (app/...) by inclusive share of the samples that are
    inside `endpoint`: where a request's own time goes, without the framework's frames."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not n.isdigit() or not any(f.startswith(endpoint + " ") for f in frames):
            continue
        total += int(n)
        names = {f.split(" (")[0] + " (" + f.rsplit("(", 1)[-1].split(":")[0] + ")"
                 for f in frames if "(app/" in f}  # fmt: skip
        for name in names:
            inclusive[name] = inclusive.get(name, 0) + int(n)
    if not total:
        return f"no samples inside {endpoint}"
    rows = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    out = [f"inside {endpoint}: {total} samples; app functions, inclusive % of them"]
    out += [f"  {100 * v / total:5.1f}%  {k}" for k, v in rows]
    return "\n".join(out)


async def _checkpoint(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def run_floor(name: str, a: argparse.Namespace, dsn: str, part: uuid.UUID,
              warehouses: list[uuid.UUID], request_id: uuid.UUID,
              concurrency: int) -> dict[str, Any]:  # fmt: skip
    before = common.run(stock_state(dsn, part))
    common.run(_checkpoint(dsn))
    busy = busy_before()
    procs = min(2, concurrency)
    common.log(f"{name}: asyncpg, {concurrency} connection(s) in {procs} process(es), no HTTP")
    with LockWaits(dsn) as waits:
        d = floor_drive(dsn, part_id=part, warehouses=warehouses, request_id=request_id,
                        seconds=a.duration, concurrency=concurrency, procs=procs)  # fmt: skip
    after = common.run(stock_state(dsn, part))
    d["check"] = {"before": before, "after": after}
    d["background_cpu_pct"] = busy
    d["lock_waits"] = waits.summary()
    return d


async def setup_stock(base: str, key: str, a: argparse.Namespace) -> dict[str, Any]:
    api_ = Api(base, key)
    try:
        hot_wh = await api_.warehouse("WH-HOT")
        spread_whs = [await api_.warehouse(f"WH-S{i:03d}") for i in range(a.warehouses)]
        out: dict[str, Any] = {"race_wh": hot_wh, "hot_wh": hot_wh, "spread_whs": spread_whs}
        out["race_parts"] = [await api_.part(f"RACE{i}") for i in range(a.race_rounds)]
        for p in out["race_parts"]:
            await api_.receive(p, hot_wh, a.race_units)
        for label in ("hot", "floor_hot"):
            out[label] = await api_.part(label.upper())
            await api_.receive(out[label], hot_wh, 1_000_000)
        for label in ("spread", "floor_spread"):
            out[label] = await api_.part(label.upper())
            for wh in spread_whs:
                await api_.receive(out[label], wh, 100_000)
        return out
    finally:
        await api_.close()


async def any_request(dsn: str) -> uuid.UUID | None:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT id FROM part_requests ORDER BY id LIMIT 1")  # type: ignore[no-any-return]
    finally:
        await conn.close()


def cmd_reserve(a: argparse.Namespace) -> int:
    phases = a.only or list(RESERVE_PHASES)
    common.wrk_available()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    dsn = common.dsn(a.db, a.server)
    key = common.run(common.fresh_database(a.db, a.server))
    out: dict[str, Any] = {"started": started, "machine": common.machine(), "args": vars(a),
                           "revision": revision()}  # fmt: skip
    srv = api(a.db, a)
    with common.running(srv):
        common.log("setup: warehouses, parts and receipts over the API")
        setup = common.run(setup_stock(srv.base, key, a))
        pool = Pool(srv, key, dsn)
        pool.ensure(a.race_clients * a.race_rounds if "race" in phases else 1)
        if "race" in phases:
            out["race"] = run_race(a, srv, key, setup, pool, dsn)
            line, wall, rc = stock_check(a.db, a)
            out["race_stock_check"] = {"line": line, "wall_s": wall, "rc": rc}
        results: list[common.Result] = []
        if "hot" in phases:
            r = run_load("real POST hot part", a, srv, key, pool, dsn, setup["hot"],
                         [setup["hot_wh"]])  # fmt: skip
            results.append(r["result"])
        if "spread" in phases:
            r = run_load("real POST 100 warehouses", a, srv, key, pool, dsn, setup["spread"],
                         setup["spread_whs"])  # fmt: skip
            results.append(r["result"])
    floors: dict[str, dict[str, Any]] = {}
    if "floor" in phases:
        req = common.run(any_request(dsn))
        if req is None:  # no race ran: one request to hang the floor's reservations on
            with common.running(api(a.db, a)) as s2:
                t = common.run(ticket_ids(dsn)) or make_tickets(s2, key, dsn, 1)
                common.run(race_round(s2.base, key, t[:1], setup["hot"], setup["hot_wh"]))
            req = common.run(any_request(dsn))
        assert req is not None
        for c in sorted({int(x) for x in a.floor_concurrency.split(",") if x} | {a.concurrency}):
            name = f"floor hot row c={c}"
            floors[name] = run_floor(name, a, dsn, setup["floor_hot"], [setup["hot_wh"]], req, c)
        name = f"floor 100 warehouses c={a.concurrency}"
        floors[name] = run_floor(name, a, dsn, setup["floor_spread"], setup["spread_whs"], req,
                                 a.concurrency)  # fmt: skip
    line, wall, rc = stock_check(a.db, a)
    out["final_stock_check"] = {"line": line, "wall_s": wall, "rc": rc}
    report_reserve(a, out, results, floors)
    out["results"] = [r.as_dict() for r in results]
    out["floors"] = floors
    path = common.save("parts-reserve", out)
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


def cpu_lines(results: list[common.Result]) -> list[str]:
    """CPU per request: the API's process tree, this database's backends, every
    PostgreSQL process of the server (other databases' work included), wrk."""
    out = []
    for r in results:
        c = r.extra.get("cpu_ms_per_request") or {}
        if c:
            out.append(f"{r.name}: CPU ms per request: API {c.get('api', 0):.2f}, PostgreSQL "
                       f"(this database's backends) {c.get('pg_db', float('nan')):.2f}, all "
                       f"PostgreSQL processes {c.get('postgres', 0):.2f}, wrk "
                       f"{c.get('wrk', 0):.2f}")  # fmt: skip
    return out


def others_line() -> str:
    if not OTHERS:
        return "other busy processes seen before the phases: none above 10% of a core"
    seen = ", ".join(f"{k} (up to {v:.0f}% of a core)" for k, v in sorted(OTHERS.items()))
    return f"other busy processes seen before the phases: {seen}"


def report_reserve(a: argparse.Namespace, out: dict[str, Any], results: list[common.Result],
                   floors: dict[str, dict[str, Any]]) -> None:  # fmt: skip
    print()
    print(f"parts reserve  {out['started']}  {common.machine()}  commit {out['revision']}")
    print(f"API: supportline serve --workers {common.WORKERS}, db {a.db}, Redis db {a.redis_db}")
    if "race" in out:
        print(f"\n## race: {a.race_clients} clients at once, 1 unit each, each on its own "
              f"ticket; the part has exactly {a.race_units} units in one warehouse")  # fmt: skip
        for i, r in enumerate(out["race"]):
            c, s = r["codes"], r["state"]
            other = {k: n for k, n in c.items() if k not in (201, 409)}
            ok = (c.get(201, 0) == a.race_units and s["reserved"] == a.race_units
                  and s["on_hand"] - s["reserved"] == 0 and not other
                  and s["requests"] == a.race_units and s["held"] == a.race_units)  # fmt: skip
            print(f"round {i + 1}: 201 x{c.get(201, 0)}  409 x{c.get(409, 0)}  other "
                  f"{other or 'none'}  | after: on_hand {s['on_hand']}, reserved "
                  f"{s['reserved']}, available {s['on_hand'] - s['reserved']}, part requests "
                  f"{s['requests']}, active reservation units {s['held']}  | all answered in "
                  f"{r['wall_s'] * 1000:.0f} ms  {'PASS' if ok else 'FAIL'}")  # fmt: skip
            if r["first_other"]:
                print(f"   first other answer: {r['first_other']}")
        if out["race"] and out["race"][0]["sample_409"]:
            print(f"a 409 says: {out['race'][0]['sample_409']}")
        sc = out["race_stock_check"]
        print(f"supportline stock-check after the race: {sc['line']}  (exit {sc['rc']})")
    if results or floors:
        print(f"\n## reservations per second: wrk -t{common.WRK_THREADS} -c{a.concurrency} "
              f"-d{a.duration}s (after {a.warmup} s warm-up), each a new part request for "
              f"1 unit on a ticket of its own")  # fmt: skip
        rows = list(results)
        for name, d in floors.items():
            rows.append(common.Result(name=name, requests=d["transactions"], rps=d["tps"],
                                      p50_ms=d["p50_ms"], p90_ms=d["p90_ms"],
                                      p99_ms=d["p99_ms"], max_ms=d["max_ms"],
                                      errors=d["errors"]))  # fmt: skip
        print(common.table(rows))
        print()
        for line in cpu_lines(results):
            print(line)
        print()
        for r in results:
            ck, w = r.extra["check"], r.extra["lock_waits"]
            s = ck["after"]
            ok = (s["reserved"] == s["requests"] == s["held"] and s["on_hand"] >= s["reserved"]
                  and s["oversold_rows"] == 0
                  and 0 <= ck["in_flight_at_stop"] <= 2 * a.concurrency)  # fmt: skip
            print(f"{r.name}: 201s seen by wrk {ck['wrk_201']:,} (warm-up + run); part "
                  f"requests written {ck['requests_written']:,} ({ck['in_flight_at_stop']} "
                  f"answered after wrk stopped); balance reserved {s['reserved']:,} == "
                  f"requests {s['requests']:,} == active reservation units {s['held']:,}; "
                  f"on_hand {s['on_hand']:,} >= reserved; rows with reserved > on_hand: "
                  f"{s['oversold_rows']}  -> oversell: {'none' if ok else 'CHECK FAILED'}")  # fmt: skip
            if "profile" in r.extra:
                print(f"   py-spy of one API worker during {r.name}:")
                print("   " + r.extra["profile"].replace("\n", "\n   "))
            if ck["wrapped"]:
                print(f"   NOTE: wrk ran out of fresh tickets {ck['wrapped']} time(s): "
                      f"some tickets got a second request")  # fmt: skip
            if w["lock_waiting"] >= 1 and w["lock_waiting"] >= 0.5 * w["active"] and r.rps:
                print(f"   the balance row is the queue: one reservation at a time holds its "
                      f"lock, {1000 / r.rps:.1f} ms each (1 / throughput)")  # fmt: skip
            print(f"   backends running a statement: {w['active']:.1f} on average, of them "
                  f"waiting for a row lock: {w['lock_waiting']:.1f}; non-2xx "
                  f"{r.non2xx}" + (f" (first: {r.first_bad_status} {r.first_bad_body[:300]})"
                                   if r.non2xx else ""))  # fmt: skip
        for name, d in floors.items():
            w, s = d["lock_waits"], d["check"]["after"]
            print(f"{name}: {d['transactions']:,} reservations, {d['refused']} refused, "
                  f"{d['errors']} errors; backends waiting for a row lock "
                  f"{w['lock_waiting']:.1f} of {w['active']:.1f} active; after: reserved "
                  f"{s['reserved']:,}, active reservation units {s['held']:,}")  # fmt: skip
        by = {r.name: r for r in results}
        hot = by.get("real POST hot part")
        if hot:
            verdict = "PASS" if hot.rps >= TARGET_RPS else "FAIL"
            print(f"\ntarget (issue 11): >= {TARGET_RPS:.0f} reservations/s on the hot part "
                  f"with zero oversell: {hot.rps:,.0f}/s  {verdict}")  # fmt: skip
            for name, d in floors.items():
                if d["tps"]:
                    print(f"   real hot / {name}: {hot.rps / d['tps']:.1%}")
    sc = out["final_stock_check"]
    print(f"\nsupportline stock-check at the end: {sc['line']}  (exit {sc['rc']}, "
          f"{sc['wall_s']:.1f} s wall)")  # fmt: skip
    print(others_line())
    out["others"] = dict(OTHERS)


# --- stock (after bench/parts_seed) -------------------------------------------------------


async def seeded_info(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        parts = [str(r["id"]) for r in await conn.fetch("SELECT id FROM parts ORDER BY id")]
        lo, hi = await conn.fetchrow("SELECT min(at), max(at) FROM stock_movements")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM stock_movements) AS movements,"
            " (SELECT count(*) FROM stock_balances) AS balances"
        )
        return {"parts": parts, "first_at": lo, "last_at": hi, **dict(counts)}
    finally:
        await conn.close()


AS_OF_EXPLAIN = """
EXPLAIN (ANALYZE, BUFFERS, TIMING)
SELECT warehouse_id,
       COALESCE(SUM(quantity) FILTER (WHERE bucket = 'good'), 0)::int AS on_hand,
       COALESCE(SUM(quantity) FILTER (WHERE bucket = 'defective'), 0)::int AS defective,
       COALESCE(SUM(quantity) FILTER (WHERE bucket = 'in_transit'), 0)::int AS in_transit,
       COALESCE(SUM(quantity) FILTER (WHERE bucket = 'loaner'), 0)::int AS loaners
FROM stock_movements
WHERE part_id = $1 AND at <= $2
  AND (CAST($3 AS uuid) IS NULL OR warehouse_id = CAST($3 AS uuid))
GROUP BY warehouse_id
ORDER BY warehouse_id
"""


async def explain_as_of(dsn: str, at: datetime) -> list[dict[str, Any]]:
    """The as-of query (app/parts/repository/stock.py _AS_OF, same text with asyncpg's
    parameters) for the median part by ledger rows and for the part with the most."""
    conn = await asyncpg.connect(dsn)
    try:
        counts = await conn.fetch(
            "SELECT part_id, count(*) AS n FROM stock_movements GROUP BY part_id ORDER BY n"
        )
        picks = [("median part", counts[len(counts) // 2]), ("largest part", counts[-1])]
        out = []
        for label, row in picks:
            await conn.fetch(AS_OF_EXPLAIN, row["part_id"], at, None)  # warm once
            plan = await conn.fetch(AS_OF_EXPLAIN, row["part_id"], at, None)
            out.append({"label": label, "part_id": str(row["part_id"]), "rows": row["n"],
                        "plan": "\n".join(r[0] for r in plan)})  # fmt: skip
        return out
    finally:
        await conn.close()


# Other reads of the ledger, in the shapes app/parts/repository/stock.py builds:
# movements_of_batch (POST /v1/stock/postings/{batch_id}/reversal) and list_movements
# with a part filter (GET /v1/stock/movements?part_id=, newest first, a page of 50).
OTHER_READS = {
    "reversal: rows of a batch (movements_of_batch)":
        "SELECT * FROM stock_movements WHERE batch_id = $1 ORDER BY seq",
    "GET /v1/stock/movements?part_id= (list_movements, first page)":
        "SELECT * FROM stock_movements WHERE part_id = $2 ORDER BY seq DESC LIMIT 51",
}  # fmt: skip


async def explain_other_reads(dsn: str) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of OTHER_READS for a median part and one of its rows'
    batches: their execution time and plan's first line."""
    conn = await asyncpg.connect(dsn)
    try:
        part = await conn.fetchval(
            "SELECT part_id FROM (SELECT part_id, count(*) AS n FROM stock_movements GROUP BY 1)"
            " x ORDER BY n OFFSET (SELECT count(*) / 2 FROM parts) LIMIT 1"
        )
        batch = await conn.fetchval(
            "SELECT batch_id FROM stock_movements WHERE part_id = $1 LIMIT 1", part
        )
        out = []
        for label, sql in OTHER_READS.items():
            q = sql.replace("$2", "$1") if "$2" in sql else sql
            arg = part if "$2" in sql else batch
            await conn.fetch(q, arg)  # warm once
            plan = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {q}", arg)]
            ms = next((ln.split(":")[1].strip() for ln in plan if "Execution Time" in ln), "?")
            out.append({"label": label, "sql": q, "execution": ms, "plan": "\n".join(plan)})
        return out
    finally:
        await conn.close()


def cmd_stock(a: argparse.Namespace) -> int:
    common.wrk_available()
    if not common.run(common.database_exists(a.db5m, a.server)):
        raise SystemExit(f"{a.db5m} does not exist: run bench/parts_seed first")
    started, rev = time.strftime("%Y-%m-%d %H:%M:%S %Z"), revision()
    dsn = common.dsn(a.db5m, a.server)
    info = common.run(seeded_info(dsn))
    as_of = info["first_at"] + (info["last_at"] - info["first_at"]) / 2
    as_of = as_of.replace(microsecond=0)
    key = common.create_api_key(a.db5m, a.server)
    conc = [int(c) for c in str(a.stock_concurrency).split(",") if c]
    results: list[common.Result] = []
    srv = api(a.db5m, a)
    suffix_as_of = "?as_of=" + as_of.isoformat().replace("+00:00", "Z")
    with common.running(srv):
        for label, suffix in (("now", ""), ("as_of", suffix_as_of)):
            status, text = common.probe(f"{srv.base}/v1/parts/{info['parts'][0]}/stock{suffix}",
                                        auth=key)  # fmt: skip
            common.log(f"probe {label}: {status} {text[:200]}")
            wrk(
                f"{label} warm-up",
                srv,
                key,
                mode="stock",
                lines=info["parts"],
                duration=a.warmup,
                connections=max(conc),
                suffix=suffix,
                rss=False,
            )
            for c in conc:
                busy = busy_before()
                name = f"GET stock {label} c={c}"
                common.log(f"{name}: wrk -d{a.duration}s")
                r = wrk(name, srv, key, mode="stock", lines=info["parts"], duration=a.duration,
                        connections=c, suffix=suffix, dsn=dsn)  # fmt: skip
                r.extra["background_cpu_pct"] = busy
                results.append(r)
    explains = common.run(explain_as_of(dsn, as_of))
    others = common.run(explain_other_reads(dsn))
    common.log("supportline stock-check over the seeded ledger")
    check_line, wall, rc = stock_check(a.db5m, a)
    print()
    print(f"parts stock  {started}  {common.machine()}  commit {rev}")
    print(f"db {a.db5m}: {len(info['parts']):,} parts, {info['balances']:,} balances, "
          f"{info['movements']:,} ledger rows from {info['first_at']:%Y-%m-%d} to "
          f"{info['last_at']:%Y-%m-%d}; API supportline serve --workers {common.WORKERS}")  # fmt: skip
    print(f"GET /v1/parts/{{random part}}/stock (100 warehouses each), and {suffix_as_of}")
    print()
    print(common.table(results))
    print()
    for line in cpu_lines(results):
        print(line)
    print()
    for r in results:
        if "now" in r.name:
            verdict = "PASS" if r.p99_ms < TARGET_STOCK_P99_MS else "FAIL"
            print(f"target p99 < {TARGET_STOCK_P99_MS:.0f} ms, {r.name}: p99 {r.p99_ms:.1f} ms "
                  f"{verdict}")  # fmt: skip
    for e in explains:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the as-of query, {e['label']} "
              f"({e['rows']:,} ledger rows), as_of {as_of.isoformat()}:")  # fmt: skip
        print(e["plan"])
    print("\nother reads of the 5M-row ledger (EXPLAIN ANALYZE, a median part):")
    for o in others:
        first = o["plan"].splitlines()[0]
        print(f"  {o['label']}: {o['execution']}\n    {o['sql']}\n    plan: {first.strip()}")
    verdict = "PASS" if rc == 0 and wall < TARGET_CHECK_S else "FAIL"
    print(f"\nsupportline stock-check: {wall:.1f} s wall (target < {TARGET_CHECK_S:.0f} s) "
          f"{verdict}\n  {check_line}")  # fmt: skip
    print(others_line())
    path = common.save("parts-stock", {
        "started": started, "machine": common.machine(), "args": vars(a), "revision": rev,
        "info": {
            k: v for k, v in info.items() if k != "parts"}, "as_of": as_of,
        "results": [r.as_dict() for r in results], "explain": explains, "other_reads": others,
        "stock_check": {"line": check_line, "wall_s": wall, "rc": rc},
    })  # fmt: skip
    print(f"saved {path.relative_to(common.ROOT)}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("reserve", "stock"))
    p.add_argument("--server", default=common.DEFAULT_SERVER, help="PostgreSQL server URL")
    p.add_argument("--db", default=DB, help="reserve: benchmark database (recreated)")
    p.add_argument("--db5m", default=DB_5M, help="stock: the database bench/parts_seed made")
    p.add_argument("--redis-db", type=int, default=9, help="the API's Redis database number")
    p.add_argument("--duration", type=int, default=15, help="seconds per phase")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per phase")
    p.add_argument("--concurrency", type=int, default=common.CONCURRENCY)
    p.add_argument("--stock-concurrency", default="1,4,32", help="stock: wrk connections, a list")
    p.add_argument("--only", action="append", choices=RESERVE_PHASES, help="reserve phases")
    p.add_argument("--race-clients", type=int, default=64)
    p.add_argument("--race-units", type=int, default=10)
    p.add_argument("--race-rounds", type=int, default=3)
    p.add_argument("--warehouses", type=int, default=100)
    p.add_argument(
        "--floor-concurrency",
        default="1",
        help="reserve: floor on the hot row also at these connections (a list)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="reserve: py-spy one API worker during hot and spread (PY_SPY=path)",
    )
    p.add_argument("--profile-top", type=int, default=30)
    p.add_argument(
        "--per-second",
        type=int,
        default=300,
        help="fresh tickets per second of warm-up (the run gets twice what it did)",
    )
    a = p.parse_args()
    # Everything this bench starts (the API, the CLI) uses its own Redis database.
    os.environ["REDIS_URL"] = redis_url(a.redis_db)
    return cmd_reserve(a) if a.what == "reserve" else cmd_stock(a)


if __name__ == "__main__":
    sys.exit(main())
