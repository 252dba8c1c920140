"""E-mail out: events through the outbox to a local SMTP sink, with one worker process.

On a recreated, migrated `sl_bench_mail` (the default notification rules, the bench
fixtures), contacts with their own addresses (half zh-CN, half English) and one open P1
ticket each, bulk-loaded with COPY. The events are the `ticket.created` outbox rows a
ticket creation writes (P1: urgent, so no quiet hours; one recipient each, the
reporter, so no flood cap). One ordinary worker (`python -m workers.run`, default
settings) drains them through the mail consumer (rules, rendering, the delivery rows)
and sends them over SMTP to an aiosmtpd sink in this process, which records when each
message was accepted.

1. **throughput**: N events (default 10,000) committed in one transaction; messages per
   second from that commit to the last acceptance (end to end: drain, consumer, sender).
2. **sender**: N rendered deliveries committed `queued` at once (the consumer's output,
   copied from phase 1's first delivery): messages per second of the sender alone,
   first to last acceptance.
3. **lag**: events committed one by one at a steady rate (default 50/s for 60 s); the lag
   from each event's commit to the acceptance of its mail, p50/p90/p99/max.

Targets (the issue): >= 200 messages/s end to end; p99 lag < 2 s at 50 events/s. Prints
PASS/FAIL, asserts nothing. The worker uses a Redis database of its own (default 10,
`--redis-db`), flushed before and after: do not point it at a database in use.

    bench/mail [--count 10000] [--rate 50] [--seconds 60] [--only throughput|sender|lag]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller

from bench.common import (
    BRANCH_ID,
    CUSTOMER_ID,
    DEFAULT_SERVER,
    Arrivals,
    RssSampler,
    app_database_url,
    app_env,
    dsn,
    free_port,
    insert_fixtures,
    log,
    machine,
    migrate,
    one_run,
    recreate_database,
    save,
)
from bench.timer_lag import TICKET_COLUMNS, WorkerProc, pct, uuid7_at

DB = "sl_bench_mail"
THROUGHPUT_TARGET = 200.0
P99_TARGET_S = 2.0
_RUN_LOCK = 0x7131_1A7  # one run at a time per PostgreSQL server (see main_async)
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<sl\.([0-9a-f-]{36})\.", re.IGNORECASE | re.MULTILINE)


def redis_url(db: int) -> str:
    return f"redis://127.0.0.1:6379/{db}"


# --------------------------------------------------------------------------------------
# The SMTP sink: accepts everything, records (outbox id of the message, accepted at).


class Sink(Arrivals):
    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:  # fmt: skip
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or b""
        found = _MESSAGE_ID.search(data)
        self.arrived(found.group(1).decode() if found else "")
        return "250 2.0.0 Ok: queued"

    def start(self) -> Sink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


# --------------------------------------------------------------------------------------
# Data


def ticket_rows(n: int, tag: str, contact_ids: list[uuid.UUID], key_id: uuid.UUID,
                now: datetime) -> list[tuple[Any, ...]]:  # fmt: skip
    base = int(now.timestamp() * 1000)
    return [
        (uuid7_at(base), f"M{tag}{i:07d}", BRANCH_ID, CUSTOMER_ID, True, "7x24", "phone",
         "hardware", "remote", "P1", "matrix", "new", f"核心交换机电源模块告警 #{i}",
         "机房A的核心交换机两路电源均告警 power supply failure", key_id, 0, 1, now, now,
         contact_ids[i])
        for i in range(n)
    ]  # fmt: skip


async def load_tickets(conn: asyncpg.Connection, n: int, tag: str, key_id: uuid.UUID) -> list[tuple[Any, ...]]:  # fmt: skip
    """N contacts (own addresses, half in English) and an open P1 ticket for each."""
    now = datetime.now(UTC)
    base = int(now.timestamp() * 1000)
    contacts = [
        (uuid7_at(base), CUSTOMER_ID, f"联系人{i}" if i % 2 else f"Contact {i}",
         f"c{i}.{tag}@bench.example.cn", "zh-CN" if i % 2 else "en", True, 1, now, now)
        for i in range(n)
    ]  # fmt: skip
    await conn.copy_records_to_table(
        "contacts", records=contacts,
        columns=["id", "customer_id", "name", "email", "language", "active", "version", "created_at",
                 "updated_at"],
    )  # fmt: skip
    tickets = ticket_rows(n, tag, [c[0] for c in contacts], key_id, now)
    await conn.copy_records_to_table("tickets", records=tickets,
                                     columns=[*TICKET_COLUMNS, "contact_id"])  # fmt: skip
    await conn.execute("ANALYZE contacts; ANALYZE tickets")
    return tickets


def outbox_row(ticket: tuple[Any, ...], now: datetime) -> tuple[Any, ...]:
    """The `ticket.created` row a ticket creation writes (tickets.timeline.outbox_payload)."""
    tid, number = ticket[0], ticket[1]
    payload = {"ticket_id": str(tid), "number": number, "branch_id": str(BRANCH_ID),
               "status": "new", "priority": "P1", "before": None, "after": None, "data": None}  # fmt: skip
    return (uuid.UUID(int=uuid7_at(int(now.timestamp() * 1000)).int), "ticket.created", "ticket",
            tid, json.dumps(payload), "pending", 0, now, now)  # fmt: skip


OUTBOX_COLUMNS = ["id", "event_type", "aggregate_type", "aggregate_id", "payload", "status",
                  "attempts", "created_at", "available_at"]  # fmt: skip


async def bench_key(conn: asyncpg.Connection) -> uuid.UUID:
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO api_keys (id, name, prefix, key_hash, role, active, created_at)"
        " VALUES ($1, 'bench', 'bench', 'x', 'agent', true, now())",
        key_id,
    )
    return key_id


# --------------------------------------------------------------------------------------
# Phases


async def wait_for(sink: Sink, target: int, worker: WorkerProc, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    last, last_t = sink.count(), time.monotonic()
    while sink.count() < target:
        await asyncio.sleep(0.2)
        if not worker.alive():
            raise SystemExit(f"worker exited:\n{worker.tail()}")
        if time.monotonic() - last_t >= 5:
            n = sink.count()
            log(f"  {n:,}/{target:,} accepted (+{(n - last) / (time.monotonic() - last_t):,.0f}/s)")
            last, last_t = n, time.monotonic()
        if time.monotonic() > deadline:
            log(f"  timeout: {sink.count():,}/{target:,} accepted")
            return


async def throughput_phase(conn: asyncpg.Connection, sink: Sink, worker: WorkerProc,
                           args: argparse.Namespace, key_id: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    n = args.count
    log(f"throughput: loading {n:,} contacts and P1 tickets")
    tickets = await load_tickets(conn, n, "t", key_id)
    start_count = sink.count()
    worker.sample_cpu()
    cpu0 = worker.cpu_s
    now = datetime.now(UTC)
    rows = [outbox_row(t, now) for t in tickets]
    async with conn.transaction():
        await conn.copy_records_to_table("outbox", records=rows, columns=OUTBOX_COLUMNS)
    committed = time.time()
    log(f"throughput: {n:,} ticket.created events committed; waiting for the mail")
    await wait_for(sink, start_count + n, worker, args.timeout)
    worker.sample_cpu()
    got = sink.since(start_count)
    wanted = {str(r[0]) for r in rows}
    keys = [k for k, _ in got]
    drained = await conn.fetchval(
        "SELECT extract(epoch FROM max(delivered_at)) FROM outbox WHERE id = ANY($1::uuid[])",
        [r[0] for r in rows],
    )
    states = dict(await conn.fetch(
        "SELECT state, count(*) FROM email_deliveries WHERE outbox_id = ANY($1::uuid[]) GROUP BY 1",
        [r[0] for r in rows],
    ))  # fmt: skip
    last = max((t for _, t in got), default=committed)
    first = min((t for _, t in got), default=committed)
    return {
        "events": n,
        "accepted": len(got),
        "distinct": len(set(keys) & wanted),
        "duplicates": len(keys) - len(set(keys)),
        "first_s": first - committed,
        "last_s": last - committed,
        "drained_s": (float(drained) - committed) if drained else None,
        "per_s": len(got) / max(last - committed, 1e-9),
        "states": {k: int(v) for k, v in states.items()},
        "worker_cpu_s": worker.cpu_s - cpu0,
    }


async def sender_phase(conn: asyncpg.Connection, sink: Sink, worker: WorkerProc,
                       args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    n = args.count
    sample = await conn.fetchrow(
        "SELECT subject, text_body, html_body, ticket_id, ticket_number, in_reply_to"
        " FROM email_deliveries WHERE text_body <> '' ORDER BY id LIMIT 1"
    )
    subject = sample["subject"] if sample else "[T2026-000123] 已受理:核心交换机电源模块告警"
    text = sample["text_body"] if sample else "王伟 您好:\n\n您的工单已受理。\n" * 8
    html = sample["html_body"] if sample else "<p>王伟 您好:</p><p>您的工单已受理。</p>" * 8
    now = datetime.now(UTC)
    base = int(now.timestamp() * 1000)
    rows = []
    for i in range(n):
        oid = uuid7_at(base)
        address = f"s{i}@bench.example.cn"
        rows.append((uuid7_at(base), oid, "ticket.created", "contact", address, "王伟", "zh-CN",
                     True, "queued", f"<sl.{oid}.{i:016x}@supportline.local>",
                     sample["in_reply_to"] if sample else None, subject, text, html, 0, 0,
                     now, now, now))  # fmt: skip
    columns = ["id", "outbox_id", "event_type", "recipient_kind", "address", "display_name",
               "language", "urgent", "state", "message_id", "in_reply_to", "subject",
               "text_body", "html_body", "attempts", "resends", "available_at", "created_at",
               "updated_at"]  # fmt: skip
    start_count = sink.count()
    worker.sample_cpu()
    cpu0 = worker.cpu_s
    log(f"sender: committing {n:,} queued deliveries")
    async with conn.transaction():
        await conn.copy_records_to_table("email_deliveries", records=rows, columns=columns)
    committed = time.time()
    await wait_for(sink, start_count + n, worker, args.timeout)
    worker.sample_cpu()
    got = sink.since(start_count)
    first = min((t for _, t in got), default=committed)
    last = max((t for _, t in got), default=committed)
    keys = [k for k, _ in got]
    return {
        "deliveries": n,
        "accepted": len(got),
        "duplicates": len(keys) - len(set(keys)),
        "first_s": first - committed,
        "span_s": last - first,
        "per_s": (len(got) - 1) / max(last - first, 1e-9),
        "worker_cpu_s": worker.cpu_s - cpu0,
        "message_bytes": len(text.encode()) + len(html.encode()),
    }


async def lag_phase(conn: asyncpg.Connection, sink: Sink, worker: WorkerProc,
                    args: argparse.Namespace, key_id: uuid.UUID) -> dict[str, Any]:  # fmt: skip
    n = int(args.rate * args.seconds)
    log(f"lag: loading {n:,} contacts and P1 tickets")
    tickets = await load_tickets(conn, n, "l", key_id)
    start_count = sink.count()
    committed: dict[str, float] = {}
    log(f"lag: {args.rate:g} events/s for {args.seconds:g} s, one transaction each")
    t0 = time.monotonic()
    for i, t in enumerate(tickets):
        due = t0 + i / args.rate
        pause = due - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        row = outbox_row(t, datetime.now(UTC))
        await conn.execute(
            "INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, payload, status,"
            " attempts, created_at, available_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)",
            *row,
        )  # autocommit: committed when it returns
        committed[str(row[0])] = time.time()
    behind = time.monotonic() - t0 - args.seconds
    await wait_for(sink, start_count + n, worker, args.timeout)
    got = sink.since(start_count)
    accepted = {k: at for k, at in got if k in committed}
    lags = sorted(accepted[k] - committed[k] for k in accepted)
    warm = sorted(accepted[k] - committed[k] for k in accepted
                  if committed[k] - min(committed.values()) >= 5)  # fmt: skip
    return {
        "events": n,
        "rate": args.rate,
        "publisher_behind_s": behind,
        "accepted": len(got),
        "lag": stats(lags),
        "lag_after_5s": stats(warm),
        "stages": await stages(conn, committed, accepted),
    }


async def stages(conn: asyncpg.Connection, committed: dict[str, float],
                 accepted: dict[str, float]) -> dict[str, dict[str, float]]:  # fmt: skip
    """Where the lag goes, per event: commit -> handled by the drain (the mail consumer
    wrote its delivery; the drain's batch commits a little later), -> the send attempt
    began (the batch committed, a pass picked it up), -> accepted by SMTP."""
    rows = await conn.fetch(
        "SELECT o.id::text AS id, extract(epoch FROM o.delivered_at) AS drained,"
        " extract(epoch FROM e.sending_at) AS started FROM outbox o"
        " JOIN email_deliveries e ON e.outbox_id = o.id WHERE o.id = ANY($1::uuid[])",
        list(committed),
    )
    parts: dict[str, list[float]] = {"commit -> consumed": [], "consumed -> attempt": [],
                                     "attempt -> accepted": []}  # fmt: skip
    for r in rows:
        if r["id"] in accepted and r["drained"] is not None and r["started"] is not None:
            parts["commit -> consumed"].append(float(r["drained"]) - committed[r["id"]])
            parts["consumed -> attempt"].append(float(r["started"]) - float(r["drained"]))
            parts["attempt -> accepted"].append(accepted[r["id"]] - float(r["started"]))
    return {k: stats(sorted(v)) for k, v in parts.items()}


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": values[-1] if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


# --------------------------------------------------------------------------------------
# Run


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(result: dict[str, Any]) -> list[str]:
    verdicts = []
    if t := result.get("throughput"):
        print(f"\n## throughput: {t['events']:,} ticket.created events in one commit, 1 worker")
        print(f"accepted {t['accepted']:,} (distinct {t['distinct']:,}, duplicates "
              f"{t['duplicates']}); delivery states {t['states']}")  # fmt: skip
        drained = f"{t['drained_s']:.1f} s" if t["drained_s"] is not None else "n/a"
        print(f"commit -> first acceptance {t['first_s']:.2f} s, -> last {t['last_s']:.1f} s; "
              f"outbox drained (consumer done) after {drained}")  # fmt: skip
        print(f"end to end: {t['per_s']:,.0f} messages/s; worker CPU {t['worker_cpu_s']:.1f} s "
              f"({1000 * t['worker_cpu_s'] / max(t['accepted'], 1):.2f} ms per message)")  # fmt: skip
        ok = t["per_s"] >= THROUGHPUT_TARGET and t["distinct"] == t["events"]
        verdicts.append(f"{verdict(ok)}  end to end {t['per_s']:,.0f} messages/s "
                        f"(target >= {THROUGHPUT_TARGET:.0f}/s)")  # fmt: skip
    if s := result.get("sender"):
        print(f"\n## sender alone: {s['deliveries']:,} rendered deliveries queued at once "
              f"({s['message_bytes']:,} bytes of text+HTML each)")  # fmt: skip
        print(f"accepted {s['accepted']:,} (duplicates {s['duplicates']}); first after "
              f"{s['first_s']:.2f} s (the sender's cron tick), then {s['span_s']:.1f} s")  # fmt: skip
        print(f"sender: {s['per_s']:,.0f} messages/s; worker CPU {s['worker_cpu_s']:.1f} s "
              f"({1000 * s['worker_cpu_s'] / max(s['accepted'], 1):.2f} ms per message)")  # fmt: skip
    if lg := result.get("lag"):
        x = lg["lag"]
        w = lg["lag_after_5s"]
        print(f"\n## lag: {lg['events']:,} events at {lg['rate']:g}/s, each its own commit")
        print(f"accepted {lg['accepted']:,}; publisher behind schedule by "
              f"{lg['publisher_behind_s']:.2f} s at the end")  # fmt: skip
        for name, v in (("commit -> SMTP acceptance (s)", x), ("same, after the first 5 s", w)):
            print(f"{name:<32} p50 {v['p50']:.3f}  p90 {v['p90']:.3f}  p99 {v['p99']:.3f}  "
                  f"max {v['max']:.3f}  mean {v['mean']:.3f}")  # fmt: skip
        print("where it goes (s):")
        for name, v in lg["stages"].items():
            print(f"  {name:<30} p50 {v['p50']:.3f}  p90 {v['p90']:.3f}  p99 {v['p99']:.3f}  "
                  f"max {v['max']:.3f}")  # fmt: skip
        verdicts.append(f"{verdict(x['p99'] < P99_TARGET_S)}  p99 lag {x['p99']:.3f} s at "
                        f"{lg['rate']:g} events/s (target < {P99_TARGET_S:.0f} s)")  # fmt: skip
    return verdicts


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    log(f"creating database {args.db}")
    await recreate_database(args.db, args.server)
    log("migrating (supportline migrate)")
    migrate(args.db, args.server)
    await ensure_defaults(args)
    conn = await asyncpg.connect(dsn(args.db, args.server))
    await insert_fixtures(conn)
    key_id = await bench_key(conn)
    r = aioredis.from_url(redis_url(args.redis_db))
    await r.flushdb()
    sink = Sink().start()
    env = app_env(args.db, args.server, REDIS_URL=redis_url(args.redis_db), LOG_LEVEL="WARNING",
                  SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port), SMTP_SECURITY="none")  # fmt: skip
    worker = WorkerProc(env)
    sampler = RssSampler(worker.proc.pid).start()
    result: dict[str, Any] = {"args": vars(args), "machine": machine()}
    try:
        deadline = time.monotonic() + 60
        while not await r.keys("supportline:worker:*:health-check"):
            if not worker.alive() or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        log(f"worker ready (pid {worker.proc.pid}); SMTP sink on 127.0.0.1:{sink.port}")
        if args.only in (None, "throughput"):
            result["throughput"] = await throughput_phase(conn, sink, worker, args, key_id)
        if args.only in (None, "sender"):
            result["sender"] = await sender_phase(conn, sink, worker, args)
        if args.only in (None, "lag"):
            result["lag"] = await lag_phase(conn, sink, worker, args, key_id)
    finally:
        worker.stop()
        sampler.stop()
        sink.stop()
        result["worker_peak_rss_mb"] = sampler.peak_total / 2**20
        result["sessions"] = sink.sessions
        tail = worker.tail(3000)
        result["worker_errors"] = [ln for ln in tail.splitlines() if "ERROR" in ln][-5:]
        await r.flushdb()
        await r.aclose()
        await conn.close()
    return result


async def ensure_defaults(args: argparse.Namespace) -> None:
    """The notification rules and the rest of a new installation's rows."""
    import os

    os.environ["DATABASE_URL"] = app_database_url(args.db, args.server)
    from app import models  # noqa: F401
    from app.core.config import get_settings
    from app.core.db import dispose_engine, open_uow
    from app.defaults import ensure_defaults as defaults

    get_settings.cache_clear()
    async with open_uow() as uow:
        await defaults(uow)
    await dispose_engine()


async def main_async(args: argparse.Namespace) -> None:
    async with one_run(args.server, _RUN_LOCK, "mail"):
        print(f"\n# mail  ({machine()})")
        result = await run_all(args)
    verdicts = report(result)
    print(f"\nSMTP sessions: {result['sessions']:,}; worker peak RSS "
          f"{result['worker_peak_rss_mb']:.0f} MB; errors in the worker's log tail: "
          f"{len(result['worker_errors'])}")  # fmt: skip
    for line in result["worker_errors"]:
        print("  ", line[:300])
    print()
    for v in verdicts:
        print(v)
    log(f"saved {save('mail', result)}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=10_000, help="events (default 10,000)")
    p.add_argument("--rate", type=float, default=50.0, help="lag phase: events per second")
    p.add_argument("--seconds", type=float, default=60.0, help="lag phase: for how long")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the mail")
    p.add_argument("--db", default=DB)
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--redis-db", type=int, default=10)
    p.add_argument("--only", choices=["throughput", "sender", "lag"])
    args = p.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
