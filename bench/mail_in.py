"""Inbound mail per second through the LMTP listener (issue 12, item 10).

On a recreated, migrated `sl_bench_mail_in`: the bench fixtures (one customer, its
contact `zhang.wei@bench.example`) and T open tickets (default 200). The real listener,
`supportline mail-in`, runs as its own process; C asyncio LMTP clients (one connection
each, kept open) deliver N replies in all (default 3,000), each to a random ticket,
threaded by `In-Reply-To` (our root id), from the contact, ~1 KB of Chinese text with a
quoted history to cut, one recipient. Every reply becomes a public comment, a timeline
event and an outbox row (no worker runs: the notices are only written).

Prints, per concurrency: messages/s, the latency from the end of DATA to the reply
(p50/p90/p99/max), the CPU the listener and PostgreSQL spent per message, and checks
that every message was stored once (inbound rows == comments == N, all 250).

    .venv/bin/python -m bench.mail_in [--messages 3000] [--tickets 200] [--concurrency 1,4,8]
                                      [--listeners 1]
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
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.common import (
    CONTACT_ID,
    CUSTOMER_ID,
    DEFAULT_SERVER,
    SUPPORTLINE,
    app_database_url,
    app_env,
    dsn,
    free_port,
    insert_fixtures,
    log,
    machine,
    migrate,
    recreate_database,
    save,
)

DB = "sl_bench_mail_in"
SENDER = "zhang.wei@bench.example"
DOMAIN = "supportline.local"  # the default MAIL_DOMAIN
BODY = (
    "您好，按照建议重启了主控板，问题依旧：\n"
    "  show power\n  PSU1  failed  0W\n  PSU2  normal 350W\n"
    "另外附上今天上午 10:20 的告警日志摘要，请帮忙再看一下是否需要更换电源模块。\n"
    "我们的维护窗口是今晚 22:00 到明早 06:00，如需现场更换请提前告知。\n\n"
    "谢谢！\n王伟\n\n"
    "在 2026年12月1日 10:20，技术支持中心 <support@supportline.local> 写道：\n"
) + "> 您好，请先重启主控板并观察电源模块状态，如问题依旧请回复本邮件。\n" * 6


async def seed(db: str, server: str, tickets: int) -> list[uuid.UUID]:
    """The fixtures, the system identities, and `tickets` open tickets."""
    conn = await asyncpg.connect(dsn(db, server))
    try:
        await insert_fixtures(conn)
    finally:
        await conn.close()
    os.environ["DATABASE_URL"] = app_database_url(db, server)
    from app import models  # noqa: F401
    from app.access.defaults import ensure_identities, system_principal
    from app.core.config import get_settings
    from app.core.db import dispose_engine, open_uow
    from app.tickets import interface

    get_settings.cache_clear()
    ids: list[uuid.UUID] = []
    async with open_uow() as uow:
        await ensure_identities(uow)
    for i in range(tickets):
        async with open_uow() as uow:
            data = interface.TicketCreate.model_validate({
                "customer_id": CUSTOMER_ID, "contact_id": CONTACT_ID, "channel": "phone",
                "category": "hardware", "priority": "P3", "subject": f"电源模块告警 {i}"})  # fmt: skip
            ids.append((await interface.create(uow, system_principal(), data)).id)
    await dispose_engine()
    return ids


def message(ticket_id: uuid.UUID, n: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"王伟 <{SENDER}>"
    m["To"] = f"support@{DOMAIN}"
    m["Subject"] = "回复：电源模块告警"
    m["Message-ID"] = f"<bench.{n}.{uuid.uuid4().hex}@mail.bench.example>"
    m["In-Reply-To"] = f"<ticket.{ticket_id}@{DOMAIN}>"
    m["References"] = f"<ticket.{ticket_id}@{DOMAIN}>"
    m.set_content(BODY)
    data = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    # Dot-stuffing (RFC 5321 4.5.2); the text has no line starting with a dot anyway.
    return b"\r\n".join(b"." + x if x.startswith(b".") else x for x in data.split(b"\r\n"))


class Client:
    """A minimal asyncio LMTP client: one connection, one recipient a message."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def _reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = (await self.reader.readline()).decode()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "".join(lines)

    async def _cmd(self, text: str) -> tuple[int, str]:
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        return await self._reply()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert (await self._reply())[0] == 220
        assert (await self._cmd("LHLO bench.example"))[0] == 250

    async def send(self, data: bytes) -> tuple[int, float]:
        assert (await self._cmd(f"MAIL FROM:<{SENDER}>"))[0] == 250
        assert (await self._cmd(f"RCPT TO:<support@{DOMAIN}>"))[0] == 250
        assert (await self._cmd("DATA"))[0] == 354
        self.writer.write(data + b"\r\n.\r\n")
        await self.writer.drain()
        start = time.perf_counter()
        code, _ = await self._reply()
        return code, time.perf_counter() - start

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._cmd("QUIT")
        self.writer.close()


def start_listener(db: str, server: str, port: int) -> tuple[subprocess.Popen[bytes], Any]:
    logfile = tempfile.NamedTemporaryFile(prefix="bench-mail-in-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [SUPPORTLINE, "mail-in", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=app_env(db, server), stdout=logfile,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(Path(logfile.name).read_text())
        # Its own line, not a connection: a second process on the port is not the first.
        if "LMTP listening" in Path(logfile.name).read_text(errors="replace"):
            return proc, logfile
        time.sleep(0.2)
    raise SystemExit("mail-in did not start")


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process now (per pid, so that a backend that ends
    during a run is left out rather than counted negative; see common.CpuMeter)."""
    out: dict[int, float] = {}
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith("postgres"):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
    return out


def postgres_delta(start: dict[int, float], end: dict[int, float]) -> float:
    return sum(max(0.0, cpu - start.get(pid, 0.0)) for pid, cpu in end.items())


async def phase(port: int, tickets: list[uuid.UUID], total: int, concurrency: int,
                listeners: list[int], base: int) -> dict[str, Any]:  # fmt: skip
    rnd = random.Random(concurrency)
    messages = [message(rnd.choice(tickets), base + i) for i in range(total)]
    clients = [Client(port) for _ in range(concurrency)]
    await asyncio.gather(*(c.connect() for c in clients))
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue = list(reversed(messages))

    async def work(c: Client) -> None:
        while queue:
            code, seconds = await c.send(queue.pop())
            codes[code] = codes.get(code, 0) + 1
            latencies.append(seconds)

    cpu0, pg0 = cpu_of(listeners), postgres_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(work(c) for c in clients))
    elapsed = time.perf_counter() - t0
    cpu, pg = cpu_of(listeners) - cpu0, postgres_delta(pg0, postgres_cpu())
    await asyncio.gather(*(c.close() for c in clients))
    q = statistics.quantiles(latencies, n=100)
    return {
        "concurrency": concurrency, "messages": total, "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1), "codes": codes,
        "p50_ms": round(q[49] * 1000, 1), "p90_ms": round(q[89] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
        "listener_cpu_ms": round(cpu / total * 1000, 2), "postgres_cpu_ms": round(pg / total * 1000, 2),
    }  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="per concurrency level")
    ap.add_argument("--tickets", type=int, default=200)
    ap.add_argument("--concurrency", default="1,4,8", help="comma-separated connections")
    ap.add_argument("--listeners", type=int, default=1, help="mail-in processes on the port")
    ap.add_argument("--server", default=DEFAULT_SERVER)
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    log(f"recreating {DB}")
    await recreate_database(DB, args.server)
    migrate(DB, args.server)
    log(f"seeding {args.tickets} tickets")
    tickets = await seed(DB, args.server, args.tickets)
    port = free_port()
    listeners = [start_listener(DB, args.server, port) for _ in range(args.listeners)]
    pids = [proc.pid for proc, _ in listeners]
    results: list[dict[str, Any]] = []
    try:
        await phase(port, tickets, 100, 4, pids, 10_000_000)  # warm-up
        for i, c in enumerate(levels):
            log(f"{args.messages} messages over {c} connection(s)")
            results.append(await phase(port, tickets, args.messages, c, pids, i * 1_000_000))
    finally:
        for proc, logfile in listeners:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=40)
            logfile.close()
    conn = await asyncpg.connect(dsn(DB, args.server))
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM inbound_messages WHERE outcome = 'comment'"
        )
        comments = await conn.fetchval("SELECT count(*) FROM ticket_comments")
    finally:
        await conn.close()
    expected = 100 + args.messages * len(levels)
    print(f"\nmail in through LMTP (`supportline mail-in`, {args.listeners} process(es) on one "
          f"port); {machine()}")  # fmt: skip
    print(f"{'conn':>4} {'msgs':>6} {'msg/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'cpu ms/msg':>10} {'pg ms/msg':>9}  replies")  # fmt: skip
    for r in results:
        print(f"{r['concurrency']:>4} {r['messages']:>6} {r['per_second']:>7} {r['p50_ms']:>7} "
              f"{r['p90_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7} {r['listener_cpu_ms']:>10} "
              f"{r['postgres_cpu_ms']:>9}  {r['codes']}")  # fmt: skip
    ok = stored == comments == expected
    print(f"stored once: {stored} inbound rows, {comments} comments, expected {expected}: "
          f"{'ok' if ok else 'MISMATCH'}")  # fmt: skip
    path = save("mail_in", {"machine": machine(), "listeners": args.listeners,
                            "results": results, "stored": stored,
                            "comments": comments, "expected": expected})  # fmt: skip
    log(f"saved {path}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
