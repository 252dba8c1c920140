"""Mail in through the MTA users run (issue 12, item 5): Debian's Postfix, set up by
.ci/postfix.sh, delivering over LMTP to a real `supportline mail-in` process on the port
its transport names. Mail enters Postfix as a user's does, through /usr/sbin/sendmail
(the pickup service; there is no smtpd); what Postfix did is read back from its queue
(`postqueue -j`) and its log (`maillog_file`), what we did from the database.

Skipped, with the reason, where there is no such Postfix (a developer's `make test`).
.ci/run sets CI_POSTFIX=required once .ci/postfix.sh has succeeded: then every reason to
skip is a failure instead, so CI cannot pass without having run these.

Every recipient (and the stranger's address) carries a token of the test, `+sltest-…`:
a test sees only its own messages in the shared queue and log, and deletes what it left
queued (`postsuper -d` by queue id, never the whole queue)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from app.access.defaults import ensure_identities
from app.core.db import open_uow
from tests.conftest import ROOT
from tests.factories import World, build_world
from tests.workers.test_mail_lmtp import comment_bodies, reply, ticket

pytestmark = pytest.mark.slow

T = TypeVar("T")
SBIN = Path("/usr/sbin")
DOMAIN = os.environ.get("POSTFIX_TEST_DOMAIN", "supportline.local")  # as .ci/postfix.sh
REQUIRED = os.environ.get("CI_POSTFIX") == "required"
# Generous, for a busy 2-core machine: every wait polls and returns as soon as it can.
DEADLINE = 60.0
TAG = "+sltest-"
CONTACT = "wang@example.cn"  # the world's contact (tests/factories.py)
_LMTP = re.compile(r"^lmtp:(?:inet:)?\[?(?:127\.0\.0\.1|localhost)\]?:(\d+)$")
_LOGGED = re.compile(
    r"postfix/\S+: (?P<qid>\w+): to=<(?P<to>[^>]*)>, (?:orig_to=<[^>]*>, )?"
    r"relay=(?P<relay>[^,]+), .*dsn=(?P<dsn>[\d.]+), status=(?P<status>\w+) \((?P<text>.*)\)$"
)


# --- Postfix, found or not ---------------------------------------------------------


def _require(ok: bool, reason: str) -> None:
    if ok:
        return
    if REQUIRED:
        pytest.fail(f"CI_POSTFIX=required, but {reason}", pytrace=False)
    pytest.skip(reason)


def _run(
    *cmd: str, data: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=check)


def _ok(*cmd: str) -> bool:
    try:
        return _run(*cmd, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _as_root(*cmd: str) -> tuple[str, ...]:
    return cmd if os.geteuid() == 0 else ("sudo", "-n", *cmd)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _lmtp_port() -> int | None:
    """The port of 127.0.0.1 that Postfix's transport_maps send DOMAIN to, if any."""
    maps = _run(f"{SBIN}/postconf", "-h", "transport_maps").stdout.decode()
    for name in filter(None, re.split(r"[\s,]+", maps)):
        found = _run(f"{SBIN}/postmap", "-q", DOMAIN, name, check=False)
        match = _LMTP.match(found.stdout.decode().strip())
        if found.returncode == 0 and match:
            return int(match[1])
    return None


@dataclass(frozen=True)
class Postfix:
    port: int
    log: Path


def _discover() -> Postfix:
    tools = ("postfix", "postconf", "postmap", "postqueue", "postsuper", "sendmail")
    missing = ", ".join(t for t in tools if not os.access(SBIN / t, os.X_OK))
    setup = "`bash .ci/postfix.sh` installs, configures and starts it"
    _require(not missing, f"Postfix is not installed (no {missing} in {SBIN}; {setup})")
    root = os.geteuid() == 0 or _ok("sudo", "-n", "true")
    _require(
        root, "Postfix's status and removing the test's mail from its queue need root or sudo -n"
    )
    # Not `postqueue`: for root it reads the queue directly while Postfix is down.
    _require(_ok(*_as_root(f"{SBIN}/postfix", "status")), f"Postfix is not running ({setup})")
    port = _lmtp_port()
    _require(port is not None, f"Postfix sends {DOMAIN} to no LMTP port of 127.0.0.1 ({setup})")
    assert port is not None
    log = _run(f"{SBIN}/postconf", "-h", "maillog_file").stdout.decode().strip()
    readable = log.startswith("/") and os.access(log, os.R_OK)
    _require(readable, f"Postfix's log (maillog_file = {log!r}) cannot be read, and it says "
             "what Postfix did")  # fmt: skip
    _require(not _listening(port), f"something listens on 127.0.0.1:{port} already, and the "
             "test's `supportline mail-in` must be the only listener there")  # fmt: skip
    return Postfix(port, Path(log))


def _queued(mark: str) -> list[dict[str, Any]]:
    """The queue's messages (`postqueue -j`, one JSON object a line) carrying `mark` in
    their sender or a recipient."""
    out = _run(f"{SBIN}/postqueue", "-j").stdout.decode()
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [
        e for e in entries
        if mark in e["sender"] or any(mark in r["address"] for r in e["recipients"])
    ]  # fmt: skip


def _delete(mark: str) -> None:
    ids = "\n".join(e["queue_id"] for e in _queued(mark))
    if ids:
        _run(*_as_root(f"{SBIN}/postsuper", "-d", "-"), data=ids.encode())


@pytest.fixture(scope="session")
def postfix() -> Postfix:
    found = _discover()
    _delete(TAG)  # what runs killed before their own cleanup left queued
    return found


# --- one test's run -----------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """One line of Postfix's log about a recipient: what became of it, on one attempt."""

    qid: str
    to: str
    relay: str
    dsn: str
    status: str
    text: str


class Run:
    """One test's mail through Postfix: its token in the addresses, the log read from
    where it stood when the test began, and the `supportline mail-in` it starts."""

    def __init__(self, postfix: Postfix, database_url: str, output: Path) -> None:
        self.postfix = postfix
        self.token = f"sltest-{uuid.uuid4().hex[:12]}"
        self.database_url = database_url
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_start = postfix.log.stat().st_size

    def rcpt(self, mailbox: str) -> str:
        return f"{mailbox}+{self.token}@{DOMAIN}"

    async def send(self, data: bytes, recipients: list[str], sender: str = CONTACT) -> None:
        """Handed to Postfix as a user's mail program does: sendmail, envelope given."""
        cmd = (f"{SBIN}/sendmail", "-i", "-f", sender, "--", *recipients)
        await asyncio.to_thread(_run, *cmd, data=data)

    async def queued(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(_queued, self.token)

    def logged(self) -> list[Logged]:
        with self.postfix.log.open("rb") as f:
            f.seek(self.log_start)
            text = f.read().decode(errors="replace")
        found = (_LOGGED.search(line) for line in text.splitlines() if self.token in line)
        return [Logged(**m.groupdict()) for m in found if m]

    async def until(self, check: Callable[[], Awaitable[T | None]], what: str) -> T:
        """Polls `check` until it gives something, for at most DEADLINE seconds."""
        end = time.monotonic() + DEADLINE
        pause = 0.05
        while not (got := await check()):
            if time.monotonic() > end:
                pytest.fail(f"{what}: not within {DEADLINE:.0f} s.\nqueue: "
                            f"{await self.queued()}\nlog: {self.logged()}", pytrace=False)  # fmt: skip
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        return got

    async def settled(self, outcomes: int) -> list[Logged]:
        """Postfix's log lines once it holds none of this test's mail any more and has
        logged `outcomes` final ones (sent or bounced)."""

        async def done() -> list[Logged] | None:
            if await self.queued():
                return None
            lines = self.logged()
            final = [line for line in lines if line.status != "deferred"]
            return lines if len(final) >= outcomes else None

        return await self.until(done, f"{outcomes} outcome(s) logged and the queue emptied")

    async def start(self) -> None:
        """`supportline mail-in` on Postfix's port; then `postqueue -f`, as an operator
        does after a restart: what Postfix deferred meanwhile is tried now."""
        assert not _listening(self.postfix.port), "another listener on the test's port"
        env = {**os.environ, "DATABASE_URL": self.database_url, "LOG_LEVEL": "WARNING",
               "MAIL_IN_HOST": "127.0.0.1", "MAIL_IN_PORT": str(self.postfix.port)}  # fmt: skip
        env.pop("MAIL_IN_DEFAULT_CUSTOMER", None)  # an unknown sender is refused
        # Its output to a file, not a pipe nobody reads while it serves.
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "mail-in"], env=env, cwd=ROOT,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

        async def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.output.read_text()
            return "LMTP listening" in self.output.read_text()

        await self.until(ready, "supportline mail-in listening")
        await asyncio.to_thread(_run, f"{SBIN}/postqueue", "-f")

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            assert await asyncio.to_thread(proc.wait, 30) == 0, self.output.read_text()
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    async def close(self) -> None:
        try:
            await self.stop()
        finally:
            await asyncio.to_thread(_delete, self.token)


@pytest.fixture
async def run(postfix: Postfix, services: dict[str, str], tmp_path: Path) -> AsyncIterator[Run]:
    current = Run(postfix, services["database_url"], tmp_path / "mail-in.out")
    try:
        yield current
    finally:
        await current.close()


@pytest.fixture
async def world(services: dict[str, str]) -> World:
    world = await build_world()
    async with open_uow() as uow:
        await ensure_identities(uow)
    return world


async def inbound(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch("SELECT id, source, outcome, ticket_id, reason FROM inbound_messages")


def summary(lines: list[Logged]) -> list[tuple[str, str, str]]:
    return [(line.to, line.status, line.dsn) for line in lines]


# --- the tests ------------------------------------------------------------------------


async def test_a_reply_through_postfix_is_one_public_comment(
    run: Run, world: World, db: asyncpg.Connection
) -> None:
    t = await ticket(world)
    await run.start()
    to = run.rcpt("support")
    await run.send(reply(t["id"]), [to])  # threaded by our In-Reply-To
    lines = await run.settled(1)
    assert summary(lines) == [(to, "sent", "2.0.0")], lines
    assert lines[0].relay == f"127.0.0.1[127.0.0.1]:{run.postfix.port}"
    (row,) = await inbound(db)
    assert (row["source"], row["outcome"], str(row["ticket_id"])) == ("lmtp", "comment", t["id"])
    assert lines[0].text == f"250 2.0.0 comment {row['id']}"  # our answer, as Postfix took it
    comments = await db.fetch(
        "SELECT body, visibility FROM ticket_comments WHERE ticket_id = $1", uuid.UUID(t["id"])
    )
    assert [(c["body"], c["visibility"]) for c in comments] == [
        ("重启后恢复正常，谢谢。", "public")
    ]


async def test_one_message_to_two_recipients_is_one_comment_and_two_deliveries(
    run: Run, world: World, db: asyncpg.Connection
) -> None:
    t = await ticket(world)
    await run.start()
    both = [run.rcpt("support"), run.rcpt("helpdesk")]
    await run.send(reply(t["id"]), both)
    lines = await run.settled(2)
    # One queued message, one LMTP transaction, a reply per recipient (RFC 2033): a
    # missing or a 4xx second reply would leave the second recipient deferred.
    assert sorted(summary(lines)) == sorted((to, "sent", "2.0.0") for to in both), lines
    assert len({line.qid for line in lines}) == 1
    (row,) = await inbound(db)
    assert {line.text for line in lines} == {f"250 2.0.0 comment {row['id']}"}
    assert await comment_bodies(db, t["id"]) == ["重启后恢复正常，谢谢。"]


async def test_mail_in_down_postfix_defers_and_delivers_once_after_it_returns(
    run: Run, world: World, db: asyncpg.Connection
) -> None:
    t = await ticket(world)
    to = run.rcpt("support")
    await run.send(reply(t["id"]), [to])  # nothing listens on the port

    async def deferred() -> list[dict[str, Any]] | None:
        # In the deferred queue, and logged (the log is written a moment apart).
        held = await run.queued()
        ok = held and held[0]["queue_name"] == "deferred" and run.logged()
        return held if ok else None

    (held,) = await run.until(deferred, "Postfix deferring the message")
    assert "Connection refused" in held["recipients"][0]["delay_reason"], held
    assert summary(run.logged()) == [(to, "deferred", "4.4.1")]
    assert await comment_bodies(db, t["id"]) == []

    await run.start()  # and postqueue -f
    lines = await run.settled(1)
    assert summary(lines) == [(to, "deferred", "4.4.1"), (to, "sent", "2.0.0")], lines
    assert {line.qid for line in lines} == {held["queue_id"]}
    assert len(await inbound(db)) == 1
    assert await comment_bodies(db, t["id"]) == ["重启后恢复正常，谢谢。"]


async def test_an_unknown_sender_is_refused_and_postfix_bounces_it(
    run: Run, world: World, db: asyncpg.Connection
) -> None:
    await run.start()
    stranger = f"stranger+{run.token}@nowhere.example"
    m = EmailMessage()
    m["From"] = stranger
    m["To"] = f"support@{DOMAIN}"
    m["Subject"] = "打印机无法开机"
    m["Message-ID"] = make_msgid(domain="nowhere.example")
    m.set_content("请尽快派人处理。")
    to = run.rcpt("support")
    await run.send(m.as_bytes(), [to], sender=stranger)
    lines = await run.settled(2)
    # Refused for good, so bounced at once (not retried); the non-delivery notice to the
    # stranger goes nowhere: the error transport, nothing leaves the machine.
    assert summary(lines) == [(to, "bounced", "5.7.1"), (stranger, "bounced", "5.0.0")], lines
    assert "said: 550 5.7.1 Refused: unknown_sender" in lines[0].text, lines[0]
    assert lines[1].relay == "none"
    assert [(r["outcome"], r["ticket_id"]) for r in await inbound(db)] == [("refused", None)]
    assert await db.fetchval("SELECT count(*) FROM tickets") == 0
