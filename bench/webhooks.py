"""Webhooks out: events through the outbox to a local HTTP receiver, with one worker.

On a recreated, migrated `sl_bench_webhooks` (the bench fixtures and one open P1 ticket
per event, bulk-loaded with COPY), one subscription to `ticket.*` whose URL is a
receiver in this process (a bare ASGI app under uvicorn, in a thread of its own: it
answers 204 and records each `webhook-id` with the time it arrived). One ordinary
worker (`python -m workers.run`, default settings but `WEBHOOK_ALLOW_NETWORKS` for the
loopback receiver) drains the events through the webhook consumer (one delivery row per
event) and its sender posts them, signed.

0. **ceiling**: the same number of signed envelopes POSTed straight to the receiver by
   an httpx client in this process at the sender's concurrency (`WEBHOOK_CONCURRENCY`,
   16): what a Python sender of these requests manages with no database and no queue;
   and the receiver alone under wrk (what it can take at all).
1. **throughput**: N events (default 5,000) committed in one transaction; deliveries
   per second from that commit to the last 2xx (drain, consumer, sender).
2. **sender**: N deliveries committed `pending` at once (the consumer's output): the
   sender alone, first to last 2xx.
3. **lag**: events committed one by one at a steady rate (default 50/s for 30 s); the
   lag from each commit to the receiver's 2xx, p50/p90/p99/max.

Prints figures, asserts nothing. The worker uses a Redis database of its own (default
11, `--redis-db`), flushed before and after.

    bench/webhooks [--count 5000] [--rate 50] [--seconds 30] [--only ceiling|throughput|sender|lag]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
import uvicorn

from bench.common import (
    DEFAULT_SERVER,
    Arrivals,
    RssSampler,
    app_env,
    dsn,
    free_port,
    insert_fixtures,
    log,
    machine,
    migrate,
    one_run,
    recreate_database,
    run_wrk,
    save,
)
from bench.mail import (
    OUTBOX_COLUMNS,
    bench_key,
    ensure_defaults,
    outbox_row,
    stats,
    ticket_rows,
    wait_for,
)
from bench.timer_lag import TICKET_COLUMNS, WorkerProc, uuid7_at

DB = "sl_bench_webhooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_RUN_LOCK = 0x7131_1A8


def redis_url(db: int) -> str:
    return f"redis://127.0.0.1:6379/{db}"


# --------------------------------------------------------------------------------------
# The receiver: answers 204 to every POST and records (webhook-id, arrived at).


class Receiver(Arrivals):
    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="off", interface="asgi3")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # the body is read (and dropped): a real receiver reads it
            message = await receive()
            more = message.get("more_body", False)
        self.arrived(dict(scope["headers"]).get(b"webhook-id", b"").decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def start(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/supportline-events"


def event_key(outbox_id: uuid.UUID) -> str:
    """The webhook-id the consumer gives an outbox message (app.hooks.envelope)."""
    from app.hooks.envelope import event_id

    return event_id(outbox_id)


# --------------------------------------------------------------------------------------
# Data


async def load_tickets(conn: asyncpg.Connection, n: int, tag: str, key_id: uuid.UUID) -> list[tuple[Any, ...]]:  # fmt: skip
    now = datetime.now(UTC)
    contact = await conn.fetchval("SELECT id FROM contacts ORDER BY id LIMIT 1")
    rows = ticket_rows(n, tag, [contact] * n, key_id, now)
    await conn.copy_records_to_table("tickets", records=rows, columns=[*TICKET_COLUMNS, "contact_id"])  # fmt: skip
    await conn.execute("ANALYZE tickets")
    return rows


async def subscribe(conn: asyncpg.Connection, url: str) -> uuid.UUID:
    sid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO webhook_subscriptions (id, name, url, event_types, secret, active,"
        " description, created_at, updated_at, version)"
        " VALUES ($1, 'bench receiver', $2, ARRAY['ticket.*'], $3, true, '', now(), now(), 1)",
        sid, url, SECRET,
    )  # fmt: skip
    return sid


# --------------------------------------------------------------------------------------
# Phases


async def ceiling_phase(receiver: Receiver, args: argparse.Namespace) -> dict[str, Any]:
    from app.hooks import signing

    n, concurrency = args.count, args.concurrency
    body = json.dumps({"version": 1, "id": "evt_x", "type": "ticket.created",
                       "timestamp": "2026-12-07T06:00:00Z", "data": {"n": 1}}).encode()  # fmt: skip
    start = receiver.count()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=15) as client:

        async def post_all() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                msg_id = f"evt_ceiling_{i}"
                headers = signing.headers([SECRET], msg_id, datetime.now(UTC), body)
                await client.post(receiver.url, content=body,
                                  headers={**headers, "content-type": "application/json"})  # fmt: skip

        t0 = time.time()
        await asyncio.gather(*(post_all() for _ in range(concurrency)))
        t1 = time.time()
    got = receiver.count() - start
    # The receiver alone, driven by wrk (whose own cost is small): what it can take.
    res = run_wrk("receiver", receiver.url, duration=5, method="POST",
                  body={"version": 1, "type": "ticket.created", "data": {"n": 1}},
                  connections=concurrency)  # fmt: skip
    return {"deliveries": n, "accepted": got, "per_s": got / max(t1 - t0, 1e-9),
            "concurrency": concurrency, "receiver_rps": res.rps,
            "receiver_p99_ms": res.p99_ms}  # fmt: skip


async def throughput_phase(conn: asyncpg.Connection, receiver: Receiver, worker: WorkerProc,
                           args: argparse.Namespace, key_id: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    n = args.count
    log(f"throughput: loading {n:,} P1 tickets")
    tickets = await load_tickets(conn, n, "t", key_id)
    start = receiver.count()
    worker.sample_cpu()
    cpu0 = worker.cpu_s
    now = datetime.now(UTC)
    rows = [outbox_row(t, now) for t in tickets]
    async with conn.transaction():
        await conn.copy_records_to_table("outbox", records=rows, columns=OUTBOX_COLUMNS)
    committed = time.time()
    log(f"throughput: {n:,} ticket.created events committed; waiting for the deliveries")
    await wait_for(receiver, start + n, worker, args.timeout)  # type: ignore[arg-type]
    worker.sample_cpu()
    got = receiver.since(start)
    wanted = {event_key(r[0]) for r in rows}
    keys = [k for k, _ in got]
    states = dict(await conn.fetch("SELECT state, count(*) FROM webhook_deliveries GROUP BY 1"))
    last = max((t for _, t in got), default=committed)
    first = min((t for _, t in got), default=committed)
    return {
        "events": n, "accepted": len(got), "distinct": len(set(keys) & wanted),
        "duplicates": len(keys) - len(set(keys)), "first_s": first - committed,
        "last_s": last - committed, "per_s": len(got) / max(last - committed, 1e-9),
        "states": {k: int(v) for k, v in states.items()}, "worker_cpu_s": worker.cpu_s - cpu0,
    }  # fmt: skip


async def sender_phase(conn: asyncpg.Connection, receiver: Receiver, worker: WorkerProc,
                       args: argparse.Namespace, sid: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    n = args.count
    now = datetime.now(UTC)
    base = int(now.timestamp() * 1000)
    rows = []
    for i in range(n):
        eid = f"evt_sender_{i:08d}"
        body = json.dumps({"version": 1, "id": eid, "type": "ticket.created",
                           "timestamp": now.isoformat(), "data": {"i": i}})  # fmt: skip
        rows.append((uuid7_at(base), sid, eid, "ticket.created", body, "pending", 0, now, now))
    columns = ["id", "subscription_id", "event_id", "event_type", "body", "state", "attempts",
               "next_attempt_at", "created_at"]  # fmt: skip
    start = receiver.count()
    worker.sample_cpu()
    cpu0 = worker.cpu_s
    log(f"sender: committing {n:,} pending deliveries")
    async with conn.transaction():
        await conn.copy_records_to_table("webhook_deliveries", records=rows, columns=columns)
    committed = time.time()
    await wait_for(receiver, start + n, worker, args.timeout)  # type: ignore[arg-type]
    worker.sample_cpu()
    got = receiver.since(start)
    first = min((t for _, t in got), default=committed)
    last = max((t for _, t in got), default=committed)
    keys = [k for k, _ in got]
    return {
        "deliveries": n, "accepted": len(got), "duplicates": len(keys) - len(set(keys)),
        "first_s": first - committed, "span_s": last - first,
        "per_s": (len(got) - 1) / max(last - first, 1e-9), "worker_cpu_s": worker.cpu_s - cpu0,
    }  # fmt: skip


async def lag_phase(conn: asyncpg.Connection, receiver: Receiver, worker: WorkerProc,
                    args: argparse.Namespace, key_id: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    n = int(args.rate * args.seconds)
    log(f"lag: loading {n:,} P1 tickets")
    tickets = await load_tickets(conn, n, "l", key_id)
    start = receiver.count()
    committed: dict[str, float] = {}
    log(f"lag: {args.rate:g} events/s for {args.seconds:g} s, one transaction each")
    t0 = time.monotonic()
    for i, t in enumerate(tickets):
        pause = t0 + i / args.rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        row = outbox_row(t, datetime.now(UTC))
        await conn.execute(
            "INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, payload, status,"
            " attempts, created_at, available_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)",
            *row,
        )  # autocommit: committed when it returns
        committed[event_key(row[0])] = time.time()
    behind = time.monotonic() - t0 - args.seconds
    await wait_for(receiver, start + n, worker, args.timeout)  # type: ignore[arg-type]
    got = {k: at for k, at in receiver.since(start) if k in committed}
    lags = sorted(got[k] - committed[k] for k in got)
    return {"events": n, "rate": args.rate, "publisher_behind_s": behind, "accepted": len(got),
            "lag": stats(lags)}  # fmt: skip


# --------------------------------------------------------------------------------------
# Run


def report(result: dict[str, Any]) -> None:
    if c := result.get("ceiling"):
        print(f"\n## ceiling: {c['deliveries']:,} signed POSTs straight to the receiver, "
              f"{c['concurrency']} at a time, no database")  # fmt: skip
        print(f"{c['per_s']:,.0f} requests/s ({c['accepted']:,} received); the receiver "
              f"alone under wrk -c{c['concurrency']}: {c['receiver_rps']:,.0f} requests/s, "
              f"p99 {c['receiver_p99_ms']:.1f} ms")  # fmt: skip
    if t := result.get("throughput"):
        print(f"\n## throughput: {t['events']:,} ticket.created events in one commit, 1 worker")
        print(f"received {t['accepted']:,} (distinct {t['distinct']:,}, duplicates "
              f"{t['duplicates']}); delivery states {t['states']}")  # fmt: skip
        print(f"commit -> first 2xx {t['first_s']:.2f} s, -> last {t['last_s']:.1f} s")
        print(f"end to end: {t['per_s']:,.0f} deliveries/s; worker CPU {t['worker_cpu_s']:.1f} s "
              f"({1000 * t['worker_cpu_s'] / max(t['accepted'], 1):.2f} ms per delivery)")  # fmt: skip
    if s := result.get("sender"):
        print(f"\n## sender alone: {s['deliveries']:,} deliveries committed pending at once")
        print(f"received {s['accepted']:,} (duplicates {s['duplicates']}); first after "
              f"{s['first_s']:.2f} s, then {s['span_s']:.1f} s")  # fmt: skip
        print(f"sender: {s['per_s']:,.0f} deliveries/s; worker CPU {s['worker_cpu_s']:.1f} s "
              f"({1000 * s['worker_cpu_s'] / max(s['accepted'], 1):.2f} ms per delivery)")  # fmt: skip
    if lg := result.get("lag"):
        x = lg["lag"]
        print(f"\n## lag: {lg['events']:,} events at {lg['rate']:g}/s, each its own commit")
        print(f"received {lg['accepted']:,}; publisher behind by {lg['publisher_behind_s']:.2f} s")
        print(f"commit -> receiver 2xx (s)  p50 {x['p50']:.3f}  p90 {x['p90']:.3f}  "
              f"p99 {x['p99']:.3f}  max {x['max']:.3f}  mean {x['mean']:.3f}")  # fmt: skip


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    log(f"creating database {args.db}")
    await recreate_database(args.db, args.server)
    migrate(args.db, args.server)
    await ensure_defaults(args)
    conn = await asyncpg.connect(dsn(args.db, args.server))
    await insert_fixtures(conn)
    key_id = await bench_key(conn)
    r = aioredis.from_url(redis_url(args.redis_db))
    await r.flushdb()
    receiver = Receiver().start()
    sid = await subscribe(conn, receiver.url)
    env = app_env(args.db, args.server, REDIS_URL=redis_url(args.redis_db), LOG_LEVEL="WARNING",
                  WEBHOOK_ALLOW_NETWORKS='["127.0.0.0/8"]', MAIL_ENABLED="false")  # fmt: skip
    result: dict[str, Any] = {"args": vars(args), "machine": machine()}
    if args.only in (None, "ceiling"):
        result["ceiling"] = await ceiling_phase(receiver, args)
    worker = WorkerProc(env)
    sampler = RssSampler(worker.proc.pid).start()
    try:
        deadline = time.monotonic() + 60
        while not await r.keys("supportline:worker:*:health-check"):
            if not worker.alive() or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        log(f"worker ready (pid {worker.proc.pid}); receiver on {receiver.url}")
        if args.only in (None, "throughput"):
            result["throughput"] = await throughput_phase(conn, receiver, worker, args, key_id)
        if args.only in (None, "sender"):
            result["sender"] = await sender_phase(conn, receiver, worker, args, sid)
        if args.only in (None, "lag"):
            result["lag"] = await lag_phase(conn, receiver, worker, args, key_id)
    finally:
        worker.stop()
        sampler.stop()
        receiver.stop()
        result["worker_peak_rss_mb"] = sampler.peak_total / 2**20
        tail = worker.tail(3000)
        result["worker_errors"] = [ln for ln in tail.splitlines() if "ERROR" in ln][-5:]
        await r.flushdb()
        await r.aclose()
        await conn.close()
    return result


async def main_async(args: argparse.Namespace) -> None:
    async with one_run(args.server, _RUN_LOCK, "webhooks"):
        print(f"\n# webhooks out  ({machine()})")
        result = await run_all(args)
    report(result)
    print(f"\nworker peak RSS {result['worker_peak_rss_mb']:.0f} MB; errors in the worker's "
          f"log tail: {len(result['worker_errors'])}")  # fmt: skip
    for line in result["worker_errors"]:
        print("  ", line[:300])
    log(f"saved {save('webhooks', result)}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=5_000, help="events (default 5,000)")
    p.add_argument("--rate", type=float, default=50.0, help="lag phase: events per second")
    p.add_argument("--seconds", type=float, default=30.0, help="lag phase: for how long")
    p.add_argument("--concurrency", type=int, default=16, help="ceiling: requests at a time")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    p.add_argument("--db", default=DB)
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--redis-db", type=int, default=11)
    p.add_argument("--only", choices=["ceiling", "throughput", "sender", "lag"])
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
