"""Timer lag at 100,000 timers, and the scheduler pass over a 100,000-row timer table.

1. **Firing**: on a recreated, migrated `sl_bench_timers`, N open P1 tickets (default
   100,000), each with a running resolution clock whose warning point falls uniformly
   over the next M minutes (default 3), and the clock's `sla.clock` timer, bulk-loaded
   with COPY. One ordinary worker process announces the warnings: the real SLA handler,
   so each firing writes the clock, a timeline event and an outbox row, and re-arms the
   timer for the breach. Prints how many fired, the lag (p50/p90/p99/max, overall and by
   due-time window), the worker's peak RSS and CPU.
2. **Scheduler pass**: with no worker running, `app.timers.scheduler.schedule_due` timed
   in-process (one pass = one transaction, its Redis enqueues included) over 100,000
   pending timers in several shapes: most beyond the horizon, many inside it and not yet
   handed over, all inside and handed over, and a backlog overdue past the grace.

Targets (the issue): p99 lag < 2 s; a scheduler pass < 1 s at 100k timers. Prints
PASS/FAIL, asserts nothing. The worker uses a Redis database of its own (default 12,
`--redis-db`), flushed before and after: do not point it at a database in use.

    bench/timer_lag [--count 100000] [--minutes 3] [--redis-db 12] [--only fire|pass]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis

from bench.common import (
    DEFAULT_SERVER,
    PYTHON,
    ROOT,
    RssSampler,
    app_database_url,
    app_env,
    dsn,
    log,
    machine,
    migrate,
    recreate_database,
    save,
)

DB = "sl_bench_timers"
KIND = "bench.timer"
P99_TARGET_S = 2.0
PASS_TARGET_S = 1.0
HORIZON_S = 300  # the defaults the worker runs with (app/core/config.py)
GRACE_S = 5
POLL_S = 2


# --------------------------------------------------------------------------------------
# Helpers


def redis_url(db: int) -> str:
    return f"redis://127.0.0.1:6379/{db}"


def uuid7_at(ms: int) -> uuid.UUID:
    """A UUIDv7 for a given millisecond (ids in creation order, like app.core.ids)."""
    rand = random.getrandbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def timer_rows(
    dues: list[datetime], now: datetime, enqueued: bool = False, kind: str = KIND,
    subjects: list[uuid.UUID] | None = None,
) -> list[tuple]:  # fmt: skip
    base = int(now.timestamp() * 1000)
    subjects = subjects or [uuid7_at(base) for _ in dues]
    return [
        (uuid7_at(base), kind, subject, due, due, 1, "pending", 1 if enqueued else None, 0,
         now, now)
        for due, subject in zip(dues, subjects, strict=True)
    ]  # fmt: skip


TIMER_COLUMNS = [
    "id", "kind", "subject_id", "due_at", "fire_at", "version", "state", "enqueued_version",
    "attempts", "created_at", "updated_at",
]  # fmt: skip
TICKET_COLUMNS = [
    "id", "number", "branch_id", "customer_id", "uncontracted", "service_level", "channel",
    "category", "service_type", "priority", "priority_source", "status", "subject",
    "description", "created_by", "reopen_count", "version", "created_at", "updated_at",
]  # fmt: skip
CLOCK_COLUMNS = [
    "id", "ticket_id", "metric", "target_seconds", "calendar_id", "warn_percent", "state",
    "started_at", "used_seconds", "running_since", "warn_at", "due_at", "updated_at",
]  # fmt: skip
RESOLUTION_S = 4 * 3600  # P1 on 7x24: 4 h, warned at 75%


async def load_tickets(conn: asyncpg.Connection, warn_ats: list[datetime], now: datetime) -> None:
    """Open P1 tickets with a running resolution clock each, whose warning point is the
    given time (3 h into a 4 h target), and the clocks' timers: what ticket creation
    writes, minus the parts the firing does not read."""
    from bench.common import BRANCH_ID, CUSTOMER_ID, insert_fixtures

    await insert_fixtures(conn)
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO api_keys (id, name, prefix, key_hash, role, active, created_at)"
        " VALUES ($1, 'bench', 'bench', 'x', 'agent', true, $2)",
        key_id,
        now,
    )
    calendar = await conn.fetchval("SELECT id FROM calendars WHERE code = '24x7'")
    base = int(now.timestamp() * 1000)
    tickets, clocks = [], []
    for i, warn_at in enumerate(warn_ats):
        tid, cid = uuid7_at(base), uuid7_at(base)
        started = warn_at - timedelta(seconds=RESOLUTION_S * 3 // 4)
        tickets.append(
            (tid, f"B{i:07d}", BRANCH_ID, CUSTOMER_ID, True, "7x24", "phone", "hardware",
             "remote", "P1", "matrix", "in_progress", "bench", "bench", key_id, 0, 1,
             started, started)
        )  # fmt: skip
        clocks.append(
            (cid, tid, "resolution", RESOLUTION_S, calendar, 75, "running", started, 0,
             started, warn_at, started + timedelta(seconds=RESOLUTION_S), started)
        )  # fmt: skip
    await conn.copy_records_to_table("tickets", records=tickets, columns=TICKET_COLUMNS)
    await conn.copy_records_to_table("ticket_clocks", records=clocks, columns=CLOCK_COLUMNS)
    rows = timer_rows(warn_ats, now, kind="sla.clock", subjects=[c[0] for c in clocks])
    await conn.copy_records_to_table("timers", records=rows, columns=TIMER_COLUMNS)
    await conn.execute("ANALYZE tickets; ANALYZE ticket_clocks; ANALYZE timers")


async def load_timers(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    await conn.copy_records_to_table("timers", records=rows, columns=TIMER_COLUMNS)
    await conn.execute("ANALYZE timers")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --------------------------------------------------------------------------------------
# 1. Firing with one real worker


class WorkerProc:
    def __init__(self, env: dict[str, str]) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="bench-timer-worker-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "workers.run"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.cpu_s = 0.0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def sample_cpu(self) -> None:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.proc.pid).cpu_times()
            self.cpu_s = t.user + t.system

    def stop(self) -> None:
        self.sample_cpu()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# The warning's clock update notifies a listener here; PostgreSQL delivers it at commit.
NOTIFY_SQL = """
CREATE OR REPLACE FUNCTION bench_timer_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_timer', NEW.id::text);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bench_timer_notify ON ticket_clocks;
CREATE TRIGGER bench_timer_notify AFTER UPDATE ON ticket_clocks
    FOR EACH ROW WHEN (OLD.warned_at IS NULL AND NEW.warned_at IS NOT NULL)
    EXECUTE FUNCTION bench_timer_notify();
"""


def lag_stats(lags: list[float]) -> dict[str, float]:
    lags = sorted(lags)
    return {
        "n": len(lags),
        "p50": pct(lags, 50),
        "p90": pct(lags, 90),
        "p99": pct(lags, 99),
        "max": lags[-1] if lags else float("nan"),
        "mean": statistics.fmean(lags) if lags else float("nan"),
        "negative": sum(1 for x in lags if x < 0),
        "over_grace": sum(1 for x in lags if x > GRACE_S),
    }


async def fire_phase(args: argparse.Namespace) -> dict[str, Any]:
    """Two lags per warning: `warned_at - warn_at` as the clock records it (the time the
    firing transaction took as `now`), and `visible - warn_at`, when the firing
    committed (what TIMER_LAG observes): a trigger on the clock's update sends NOTIFY,
    which PostgreSQL delivers at commit, to a listener here."""
    count, window = args.count, args.minutes * 60.0
    conn = await asyncpg.connect(dsn(args.db, args.server))
    await conn.execute(NOTIFY_SQL)
    listener = await asyncpg.connect(dsn(args.db, args.server))
    seen: dict[str, float] = {}

    def heard(_c: Any, _pid: int, _channel: str, payload: str) -> None:
        seen.setdefault(payload, time.time())

    await listener.add_listener("bench_timer", heard)
    r = aioredis.from_url(redis_url(args.redis_db))
    await r.flushdb()
    env = app_env(args.db, args.server, REDIS_URL=redis_url(args.redis_db), LOG_LEVEL="WARNING")
    worker = WorkerProc(env)
    sampler = RssSampler(worker.proc.pid).start()
    result: dict[str, Any] = {"count": count, "window_s": window}
    due_of: dict[str, float] = {}
    try:
        # Ready once ARQ has recorded its first health check (it polls right after).
        deadline = time.monotonic() + 60
        while not await r.keys("supportline:worker:*:health-check"):
            if not worker.alive() or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        log(f"worker ready (pid {worker.proc.pid}); loading {count:,} tickets with clocks")
        now = datetime.now(UTC)
        start = now + timedelta(seconds=args.lead)
        dues = sorted(start + timedelta(seconds=random.uniform(0, window)) for _ in range(count))
        t = time.monotonic()
        async with conn.transaction():
            await load_tickets(conn, dues, now)
        due_of = {
            str(r["id"]): r["warn_at"].timestamp()
            for r in await conn.fetch("SELECT id, warn_at FROM ticket_clocks")
        }
        load_s = time.monotonic() - t
        left = (start - datetime.now(UTC)).total_seconds()
        log(f"COPY {count:,} tickets, clocks, timers: {load_s:.2f}s; first due in {left:.1f}s")
        result["copy_s"] = load_s
        deadline_at = start + timedelta(seconds=window + args.drain_timeout)
        last = peak_queue = 0
        while True:
            await asyncio.sleep(5)
            worker.sample_cpu()
            fired = len(seen)
            now_s = time.time()
            behind = max((now_s - d for k, d in due_of.items() if d < now_s and k not in seen),
                         default=0.0)  # fmt: skip
            queued = int(await r.zcard("arq:queue"))
            redis_mb = int((await r.info("memory"))["used_memory"]) / 2**20
            peak_queue = max(peak_queue, queued)
            log(
                f"fired {fired:,}/{count:,} (+{(fired - last) / 5:,.0f}/s), oldest due "
                f"unfired {behind:.1f}s ago, ARQ queue {queued:,} jobs, Redis {redis_mb:,.0f} MB, "
                f"worker CPU {worker.cpu_s:.0f}s, RSS {sampler.peak_total / 2**20:.0f} MB peak"
            )
            last = fired
            if fired >= count:
                break
            if redis_mb > args.redis_limit_mb:
                # Redis is shared (other databases, other people): do not fill it.
                log(f"Redis above {args.redis_limit_mb} MB: stopping, reporting what fired")
                result["aborted"] = f"Redis above {args.redis_limit_mb} MB ({queued:,} jobs queued)"
                break
            if not worker.alive():
                raise SystemExit(f"worker exited:\n{worker.tail()}")
            if datetime.now(UTC) > deadline_at:
                log("drain timeout: reporting what fired")
                break
    finally:
        worker.stop()
        sampler.stop()
        result["worker_log_tail"] = worker.tail(1500)
        await r.flushdb()
        await r.aclose()
        await listener.close()

    recorded = [
        float(rec[0])
        for rec in await conn.fetch(
            "SELECT extract(epoch FROM warned_at - warn_at) FROM ticket_clocks"
            " WHERE warned_at IS NOT NULL"
        )
    ]
    visible = {k: seen[k] - due_of[k] for k in seen if k in due_of}
    span = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM ticket_clocks WHERE warned_at IS NULL) AS pending,"
        " (SELECT count(*) FROM (SELECT ticket_id FROM ticket_events WHERE type = 'sla.warning'"
        "   GROUP BY ticket_id HAVING count(*) > 1) d) AS doubles,"
        " (SELECT count(*) FROM ticket_events WHERE type = 'sla.warning') AS effects,"
        " (SELECT count(*) FROM outbox WHERE event_type = 'sla.warning') AS announced,"
        " (SELECT count(*) FROM timers WHERE state = 'pending' AND due_at > now()) AS rearmed"
    )
    await conn.close()
    buckets: dict[int, list[float]] = {}
    t0 = min(due_of.values()) if due_of else 0.0
    for k, lag in visible.items():
        buckets.setdefault(int((due_of[k] - t0) // 30), []).append(lag)
    first_due = min(due_of.values()) if due_of else 0.0
    last_seen = max(seen.values()) if seen else first_due
    errors = sum(1 for ln in result["worker_log_tail"].splitlines() if '"ERROR"' in ln)
    result.update(
        fired=len(recorded),
        seen=len(visible),
        pending=int(span["pending"]),
        effects=int(span["effects"]),
        double_effects=int(span["doubles"]),
        announced=int(span["announced"]),
        rearmed=int(span["rearmed"]),
        drain_s=last_seen - first_due,
        lag=lag_stats(list(visible.values())),
        lag_recorded=lag_stats(recorded),
        by_window=[{"from_s": b * 30, **lag_stats(v)} for b, v in sorted(buckets.items())],
        peak_queue=peak_queue,
        worker_peak_rss_mb=sampler.peak_total / 2**20,
        worker_cpu_s=worker.cpu_s,
        worker_log_errors_in_tail=errors,
    )
    return result


# --------------------------------------------------------------------------------------
# 2. The scheduler pass, timed in-process


async def pass_phase(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = app_database_url(args.db, args.server)
    os.environ["REDIS_URL"] = redis_url(args.redis_db)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from app.core import queue
    from app.core.config import get_settings
    from app.core.db import dispose_engine, open_uow
    from app.timers import jobs, scheduler

    get_settings.cache_clear()
    settings = get_settings()
    assert settings.timer_horizon_seconds == HORIZON_S, "bench assumes the default horizon"
    conn = await asyncpg.connect(dsn(args.db, args.server))
    r = aioredis.from_url(redis_url(args.redis_db))
    count = args.count
    out: dict[str, Any] = {}

    async def reset(dues: list[datetime], enqueued: bool = False) -> None:
        await r.flushdb()
        await conn.execute("TRUNCATE timers")
        async with conn.transaction():
            await load_timers(conn, timer_rows(dues, datetime.now(UTC), enqueued))
        await conn.execute("VACUUM ANALYZE timers")

    async def one_pass() -> tuple[float, int | None]:
        t = time.perf_counter()
        handed: int | None = None
        async with open_uow() as uow:
            handed = await scheduler.schedule_due(uow)
        return time.perf_counter() - t, handed

    async def explain() -> float:
        now = datetime.now(UTC)
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id, version, fire_at FROM timers"
            " WHERE state = 'pending' AND fire_at <= $1"
            " AND enqueued_version IS DISTINCT FROM version"
            " ORDER BY fire_at LIMIT 5000",
            now + timedelta(seconds=HORIZON_S),
        )
        import json

        return float(json.loads(plan)[0]["Execution Time"])

    def spread(n: int, lo_s: float, hi_s: float) -> list[datetime]:
        now = datetime.now(UTC)
        return [now + timedelta(seconds=random.uniform(lo_s, hi_s)) for _ in range(n)]

    month = 30 * 86400.0
    inside = min(args.inside, count)
    try:
        # A: most beyond the horizon (the usual shape: 100k open tickets' clocks over weeks).
        await reset(spread(count, HORIZON_S + 1, month))
        await conn.execute(
            "UPDATE timers SET due_at = now() + interval '60 seconds',"
            " fire_at = now() + interval '60 seconds' WHERE id IN"
            " (SELECT id FROM timers ORDER BY id LIMIT 20)"
        )
        first, handed = await one_pass()
        again = [await one_pass() for _ in range(5)]
        out["A"] = {
            "first_s": first, "first_handed": handed,
            "next_s": statistics.median(x[0] for x in again), "next_handed": again[-1][1],
            "sql_ms": await explain(),
        }  # fmt: skip
        log(f"A: {out['A']}")

        # B: many inside the horizon, none handed over yet (a burst of new timers).
        await reset(spread(inside, 1, HORIZON_S) + spread(count - inside, HORIZON_S + 1, month))
        passes = []
        t = time.perf_counter()
        while True:
            s, handed = await one_pass()
            passes.append((s, handed))
            if not handed or handed < 5000:
                break
        total = time.perf_counter() - t
        steady = [await one_pass() for _ in range(3)]
        out["B"] = {
            "passes": [{"s": s, "handed": h} for s, h in passes], "all_s": total,
            "steady_s": statistics.median(x[0] for x in steady), "steady_handed": steady[-1][1],
            "sql_ms": await explain(),
        }  # fmt: skip
        log(f"B: all {inside:,} handed over in {total:.2f}s, {len(passes)} passes")

        # C: every timer inside the horizon and handed over (steady state, nothing to do).
        await reset(spread(count, 30, HORIZON_S), enqueued=True)
        c = [await one_pass() for _ in range(5)]
        out["C"] = {
            "s": statistics.median(x[0] for x in c), "max_s": max(x[0] for x in c),
            "handed": c[-1][1], "sql_ms": await explain(),
        }  # fmt: skip
        log(f"C: {out['C']}")

        # D: a backlog overdue past the grace, already handed over (workers behind, or
        # down, or jobs lost): the scheduler wakes one worker for the whole backlog. The
        # cron job `schedule_timers` runs passes until one hands over fewer than 5,000: it
        # must return at once.
        backlog = min(args.backlog, count)
        await reset(
            spread(backlog, -600, -GRACE_S - 1) + spread(count - backlog, HORIZON_S + 1, month),
            enqueued=True,
        )
        calls: list[tuple[float, int | None]] = []
        real = scheduler.schedule_due

        async def timed(uow: Any, batch: int = 5000) -> int | None:
            t0 = time.perf_counter()
            handed = await real(uow, batch)
            calls.append((time.perf_counter() - t0, handed))
            return handed

        scheduler.schedule_due = timed  # type: ignore[assignment]
        t = time.perf_counter()
        timed_out = False
        try:
            await asyncio.wait_for(jobs.schedule_timers({}), timeout=args.spin_seconds)
        except TimeoutError:
            timed_out = True
        finally:
            scheduler.schedule_due = real  # type: ignore[assignment]
        walk_s = time.perf_counter() - t
        after = await one_pass()
        out["D"] = {
            "backlog": backlog,
            "s": max((x[0] for x in calls), default=0.0), "handed": calls[0][1] if calls else None,
            "schedule_timers_passes": len(calls), "schedule_timers_s": walk_s,
            "schedule_timers_returned": not timed_out,
            "offered": sum(x[1] or 0 for x in calls), "after_s": after[0], "after_handed": after[1],
            "sql_ms": await explain(),
        }  # fmt: skip
        log(f"D: {out['D']}")
    finally:
        await r.flushdb()
        await r.aclose()
        await conn.close()
        await queue.close_pool()
        await dispose_engine()
    return out


# --------------------------------------------------------------------------------------
# Report


def header() -> None:
    print(f"\n# timer_lag  ({machine()})")
    print(
        f"worker defaults: TIMER_POLL_SECONDS={POLL_S}, TIMER_HORIZON_SECONDS={HORIZON_S}, "
        f"TIMER_OVERDUE_GRACE_SECONDS={GRACE_S}, WORKER_MAX_JOBS=20"
    )


def report(
    args: argparse.Namespace, fire: dict[str, Any] | None, sp: dict[str, Any] | None
) -> list[str]:
    """Prints the figures of a phase as soon as it is done; returns its verdicts."""
    verdicts: list[str] = []
    if fire:
        n, w = fire["count"], fire["window_s"]
        lag = fire["lag"]
        print(
            f"\n## firing: {n:,} SLA warnings due uniformly over {w:.0f} s ({n / w:,.0f}/s), "
            f"1 worker process"
        )
        print(f"COPY of the tickets, clocks and timers: {fire['copy_s']:.2f} s")
        if fire.get("aborted"):
            print(f"STOPPED EARLY: {fire['aborted']}")
        print(
            f"fired: {fire['fired']:,} / {n:,}   still pending: {fire['pending']:,}   "
            f"warning events: {fire['effects']:,} (tickets warned twice: "
            f"{fire['double_effects']}), outbox rows: {fire['announced']:,}, timers re-armed "
            f"for the breach: {fire['rearmed']:,}"
        )
        print(
            f"first due -> last firing committed: {fire['drain_s']:.1f} s "
            f"({fire['seen'] / max(fire['drain_s'], 1e-9):,.0f} fired/s)"
        )

        def line(name: str, x: dict[str, float]) -> None:
            print(
                f"{name:<34} p50 {x['p50']:>8.3f}  p90 {x['p90']:>8.3f}  p99 {x['p99']:>8.3f}  "
                f"max {x['max']:>8.3f}  (> grace {GRACE_S} s: {x['over_grace']:,})"
            )

        line("lag, committed - due_at (s):", lag)
        line("lag, warned_at - warn_at (s):", fire["lag_recorded"])
        print("committed - due_at by due time (30 s windows):")
        print("  window      timers     p50 s     p99 s     max s")
        for b in fire["by_window"]:
            print(
                f"  {b['from_s']:>4}-{b['from_s'] + 30:<4}s {b['n']:>8,} {b['p50']:>9.3f} "
                f"{b['p99']:>9.3f} {b['max']:>9.3f}"
            )
        print(f"ARQ queue: at most {fire['peak_queue']:,} jobs (sampled every 5 s)")
        print(
            f"worker: peak RSS {fire['worker_peak_rss_mb']:.0f} MB, CPU {fire['worker_cpu_s']:.1f} s "
            f"({1000 * fire['worker_cpu_s'] / max(fire['fired'], 1):.2f} ms per timer)"
        )
        ok = fire["fired"] == fire["seen"] == n and lag["p99"] < P99_TARGET_S
        verdicts.append(
            f"{verdict(ok)}  p99 lag (committed - due) {lag['p99']:.3f} s "
            f"(target < {P99_TARGET_S} s, all fired: {fire['fired']:,}/{n:,})"
        )
    if sp:
        n = args.count
        a, b, c, d = sp["A"], sp["B"], sp["C"], sp["D"]
        print(f"\n## scheduler pass: schedule_due, one transaction, {n:,} pending timers")
        print(
            "shape                                                  pass (ms)  handed  query (ms)"
        )
        print(
            f"A  most beyond the horizon (20 inside), first pass     {1000 * a['first_s']:>9.1f}"
            f"  {a['first_handed']:>6}  {a['sql_ms']:>9.1f}"
        )
        print(
            f"A  same, next passes (median)                          {1000 * a['next_s']:>9.1f}"
            f"  {a['next_handed']:>6}"
        )
        for i, p in enumerate(b["passes"]):
            label = f"B  {min(args.inside, n):,} inside, not handed over: pass {i + 1}"
            print(f"{label:<54} {1000 * p['s']:>9.1f}  {p['handed']:>6}")
        print(
            f"B  same, all handed over: {b['all_s']:.2f} s; then steady pass"
            f"{'':<12}{1000 * b['steady_s']:>9.1f}  {b['steady_handed']:>6}  {b['sql_ms']:>9.1f}"
        )
        print(
            f"C  all {n:,} inside the horizon, all handed over     {1000 * c['s']:>9.1f}"
            f"  {c['handed']:>6}  {c['sql_ms']:>9.1f}"
        )
        print(
            f"D  {d['backlog']:,} overdue past the grace, handed over: worst pass"
            f"{'':<6}{1000 * d['s']:>9.1f}  {d['handed']!s:>6}  {d['sql_ms']:>9.1f}"
        )
        print(
            f"D  schedule_timers (the cron job) on that backlog: {d['schedule_timers_passes']} "
            f"passes, {d['offered']:,} offered, {d['schedule_timers_s']:.1f} s, "
            + (
                "returned"
                if d["schedule_timers_returned"]
                else "still looping (stopped by the bench)"
            )
            + f"; next pass {1000 * d['after_s']:.1f} ms, {d['after_handed']} handed"
        )
        light = max(a["first_s"], a["next_s"], c["s"], b["steady_s"])
        full = max(p["s"] for p in b["passes"])
        target = f"target < {1000 * PASS_TARGET_S:.0f} ms"
        verdicts.append(
            f"{verdict(light < PASS_TARGET_S)}  scheduler pass over {n:,} pending, little to "
            f"hand over (A, B steady, C): worst {1000 * light:.0f} ms ({target})"
        )
        verdicts.append(
            f"{verdict(full < PASS_TARGET_S)}  scheduler pass handing over a full batch "
            f"(B): worst {1000 * full:.0f} ms ({target})"
        )
        verdicts.append(
            f"{verdict(d['s'] < PASS_TARGET_S and d['schedule_timers_returned'])}  "
            f"backlog overdue past the grace (D): pass {1000 * d['s']:.0f} ms, schedule_timers "
            + ("returned" if d["schedule_timers_returned"] else "never returns")
        )
    sys.stdout.flush()
    return verdicts


# One run at a time per PostgreSQL server: a second run would drop the first one's
# database and flush its Redis database. Held (session advisory lock, on a connection to
# the `postgres` database) for the whole run.
_RUN_LOCK = 0x7131_1A6


async def main_async(args: argparse.Namespace) -> None:
    guard = await asyncpg.connect(dsn("postgres", args.server))
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock($1)", _RUN_LOCK):
            raise SystemExit("another bench/timer_lag run is in progress on this server")
        await run_all(args)
    finally:
        await guard.close()


async def run_all(args: argparse.Namespace) -> None:
    log(f"creating database {args.db}")
    await recreate_database(args.db, args.server)
    log("migrating (supportline migrate)")
    migrate(args.db, args.server)
    main_task = asyncio.current_task()
    assert main_task is not None

    def stop(sig: signal.Signals) -> None:
        log(f"{sig.name}: stopping the worker")
        main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):  # stop the worker on the way out
        asyncio.get_running_loop().add_signal_handler(sig, stop, sig)
    header()
    verdicts: list[str] = []
    fire = sp = None
    if args.only in (None, "fire"):
        fire = await fire_phase(args)
        verdicts += report(args, fire, None)
        fire.pop("worker_log_tail", None)
    if args.only in (None, "pass"):
        try:
            sp = await pass_phase(args)
            verdicts += report(args, None, sp)
        except Exception as e:  # print what the firing phase found, whatever happens here
            log(f"scheduler pass phase failed: {e!r}")
            verdicts.append(f"ERROR  scheduler pass phase: {type(e).__name__}")
    print()
    for v in verdicts:
        print(v)
    payload = {"args": vars(args), "machine": machine(), "fire": fire, "pass": sp}
    log(f"saved {save('timer_lag', payload)}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=100_000, help="timers (default 100,000)")
    p.add_argument("--minutes", type=float, default=3.0, help="due times spread over (default 3)")
    p.add_argument("--lead", type=float, default=10.0, help="seconds before the first due time")
    p.add_argument("--drain-timeout", type=float, default=1200.0,
                   help="seconds after the last due time to wait for firing")  # fmt: skip
    p.add_argument("--inside", type=int, default=20_000, help="B: timers inside the horizon")
    p.add_argument("--backlog", type=int, default=20_000, help="D: timers overdue")
    p.add_argument("--spin-seconds", type=float, default=15.0,
                   help="D: how long to let schedule_timers run on the backlog")  # fmt: skip
    p.add_argument("--db", default=DB)
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument(
        "--redis-db", type=int, default=int(os.environ.get("BENCH_TIMER_REDIS_DB", "12"))
    )
    p.add_argument("--only", choices=["fire", "pass"])
    p.add_argument("--redis-limit-mb", type=int, default=1024,
                   help="stop the firing phase when Redis uses more (default 1024)")  # fmt: skip
    args = p.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
