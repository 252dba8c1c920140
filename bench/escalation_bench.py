"""Escalation throughput: 10,000 SLA breaches in the same minute (issue 4).

On a recreated, migrated `sl_bench_escalation`: N open P1 tickets on line 1 (default
10,000), each with a resolution clock already warned whose due time falls uniformly over
the next minute, and its `sla.clock` timer (COPY, as bench/timer_lag). One ordinary worker
(`python -m workers.run`, Redis database 11) fires the breaches; each breach sets the
ticket's `escalation.sla` timer and the hierarchical notices of the default policy; those
fire in turn: the escalation moves the ticket to line 2 with its event and outbox row.
Prints how many tickets were escalated, how many times each (must be exactly once), the
delay from breach due time to the escalation (p50/p99/max) and when the last one landed
after the last breach. Target: all escalated exactly once, within 60 s. Asserts nothing.

    bench/escalation [--count 10000] [--window 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.common import (
    DEFAULT_SERVER,
    app_env,
    dsn,
    log,
    machine,
    migrate,
    recreate_database,
    save,
)
from bench.timer_lag import WorkerProc, lag_stats, load_tickets, redis_url

DB = "sl_bench_escalation"
TARGET_S = 60.0


async def main_async(args: argparse.Namespace) -> None:
    log(f"creating database {args.db}")
    await recreate_database(args.db, args.server)
    migrate(args.db, args.server)
    conn = await asyncpg.connect(dsn(args.db, args.server))
    r = aioredis.from_url(redis_url(args.redis_db))
    await r.flushdb()
    env = app_env(args.db, args.server, REDIS_URL=redis_url(args.redis_db), LOG_LEVEL="WARNING")
    worker = WorkerProc(env)
    result: dict[str, Any] = {"count": args.count, "window_s": args.window}
    try:
        deadline = time.monotonic() + 60
        while not await r.keys("supportline:worker:*:health-check"):
            if not worker.alive() or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        now = datetime.now(UTC)
        start = now + timedelta(seconds=args.lead)
        dues = sorted(start + timedelta(seconds=random.uniform(0, args.window))
                      for _ in range(args.count))  # fmt: skip
        async with conn.transaction():
            await load_tickets(conn, dues, now)
            # Warned already: the timer's next announcement is the breach, at `dues`.
            await conn.execute(
                "UPDATE ticket_clocks SET due_at = warn_at, warn_at = warn_at - interval '1 hour',"
                " warned_at = $1",
                now - timedelta(minutes=30),
            )
        last_due = dues[-1]
        log(f"{args.count:,} breaches due from {start:%H:%M:%S} to {last_due:%H:%M:%S}")
        stop_at = last_due + timedelta(seconds=args.timeout)
        while datetime.now(UTC) < stop_at:
            await asyncio.sleep(2)
            done = await conn.fetchval("SELECT count(*) FROM tickets WHERE support_line = 'l2'")
            log(f"escalated {done:,}/{args.count:,}")
            if done >= args.count:
                break
            if not worker.alive():
                raise SystemExit(f"worker exited:\n{worker.tail()}")
    finally:
        worker.stop()
        await r.flushdb()
        await r.aclose()
    rows = await conn.fetch(
        """
        SELECT e.ticket_id, count(*) AS n, min(e.created_at) AS at, min(c.due_at) AS due
        FROM escalations e JOIN ticket_clocks c ON c.ticket_id = e.ticket_id
        GROUP BY e.ticket_id
        """
    )
    notices = await conn.fetchval("SELECT count(*) FROM escalation_notices WHERE state = 'sent'")
    await conn.close()
    delays = [(row["at"] - row["due"]).total_seconds() for row in rows]
    last = max((row["at"] for row in rows), default=None)
    result.update(
        escalated=len(rows),
        more_than_once=sum(1 for row in rows if row["n"] > 1),
        delay=lag_stats(delays),
        last_after_last_due_s=(last - last_due).total_seconds() if last else None,
        notices_sent=notices,
        worker_cpu_s=worker.cpu_s,
    )
    d = result["delay"]
    print(f"\n# escalation  ({machine()})")
    print(f"{args.count:,} SLA breaches due within {args.window:.0f} s, one worker")
    print(
        f"escalated: {result['escalated']:,}/{args.count:,}, more than once: "
        f"{result['more_than_once']}; level-2 notices sent: {notices:,}"
    )
    print(
        f"breach due -> escalation: p50 {d['p50']:.2f} s  p90 {d['p90']:.2f} s  "
        f"p99 {d['p99']:.2f} s  max {d['max']:.2f} s; last escalation "
        f"{result['last_after_last_due_s'] or float('nan'):.1f} s after the last breach was due"
    )
    print(f"worker CPU {worker.cpu_s:.1f} s")
    ok = result["escalated"] == args.count and result["more_than_once"] == 0 and d["max"] < TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}  all escalated exactly once within {TARGET_S:.0f} s of "
          f"their breach (max {d['max']:.1f} s)")  # fmt: skip
    log(f"saved {save('escalation', {'args': vars(args), 'machine': machine(), **result})}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--window", type=float, default=60.0, help="breaches due within (s)")
    p.add_argument("--lead", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--redis-db", type=int, default=11)
    p.add_argument("--db", default=DB)
    p.add_argument("--server", default=DEFAULT_SERVER)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
