"""The LMTP listener of `supportline mail-in` (issue 12, item 5), started in this process
on a free port and spoken to by a real client (`smtplib.LMTP`): one reply per recipient
after DATA (RFC 2033), a repeat dropped, what can never be taken refused with a 5xx and
what failed for now deferred with a 4xx, so the MTA keeps it."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import asyncpg
import pytest

from app.access.defaults import ensure_identities
from app.core.config import get_settings
from app.core.db import open_uow
from app.mail import ids
from app.mail.inbound import lmtp
from tests.conftest import ROOT
from tests.factories import World, build_world

RECIPIENTS = ["support@supportline.local", "helpdesk@supportline.local"]


@pytest.fixture
async def world(services: dict[str, str]) -> World:
    world = await build_world()
    async with open_uow() as uow:
        await ensure_identities(uow)
    return world


@pytest.fixture
async def port(services: dict[str, str]) -> AsyncIterator[int]:
    """A listener on a free port of 127.0.0.1, in this event loop."""
    server = await lmtp.start("127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def ticket(world: World) -> dict[str, Any]:
    """A ticket opened through the ticket service, as a phone agent would."""
    from app.access.defaults import system_principal
    from app.tickets import interface

    async with open_uow() as uow:
        out = await interface.create(
            uow, system_principal(), interface.TicketCreate.model_validate({
                "customer_id": world.customer_id, "contact_id": world.contact_id,
                "channel": "phone", "category": "hardware", "priority": "P2",
                "subject": "核心交换机电源告警"}),
        )  # fmt: skip
    return {"id": str(out.id), "number": out.number}


def reply(ticket_id: str, body: str = "重启后恢复正常，谢谢。", **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = "王伟 <wang@example.cn>"
    m["To"] = ", ".join(RECIPIENTS)
    m["Subject"] = "Re: 核心交换机电源告警"
    m["Message-ID"] = make_msgid(domain="mail.example.cn")
    m["In-Reply-To"] = ids.ticket_root_id(uuid.UUID(ticket_id), get_settings().mail_domain)
    for name, value in headers.items():
        m[name] = value
    m.set_content(body)
    return m.as_bytes()


def send(port: int, data: bytes, recipients: list[str], sender: str = "wang@example.cn") -> Any:
    """One LMTP transaction; every reply after DATA, one per accepted recipient.
    (`smtplib.LMTP.sendmail` reads only the first: RFC 2033's extra replies are read
    here with `getreply`.)"""
    with smtplib.LMTP("127.0.0.1", port) as client:
        assert client.ehlo()[0] == 250  # LHLO
        code, _ = client.mail(sender)
        assert code == 250
        accepted = [r for r in recipients if client.rcpt(r)[0] == 250]
        replies = [client.data(data)]
        replies += [client.getreply() for _ in accepted[1:]]
        client.rset()  # the session is still in step: every reply was read
        return [(code, text.decode()) for code, text in replies]


async def lmtp_send(port: int, data: bytes, recipients: list[str] = RECIPIENTS, **kw: Any) -> Any:
    return await asyncio.to_thread(send, port, data, recipients, **kw)


async def comment_bodies(db: asyncpg.Connection, ticket_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT body FROM ticket_comments WHERE ticket_id = $1 ORDER BY created_at",
        uuid.UUID(ticket_id),
    )
    return [r["body"] for r in rows]


async def test_a_reply_to_two_recipients_is_stored_once_and_answered_per_recipient(
    port: int, world: World, db: asyncpg.Connection
) -> None:
    t = await ticket(world)
    data = reply(t["id"])
    replies = await lmtp_send(port, data)
    assert [code for code, _ in replies] == [250, 250], replies
    assert replies[0][1].startswith("2.0.0 comment")
    assert await comment_bodies(db, t["id"]) == ["重启后恢复正常，谢谢。"]
    row = await db.fetchrow("SELECT source, outcome, ticket_id FROM inbound_messages")
    assert (row["source"], row["outcome"], str(row["ticket_id"])) == ("lmtp", "comment", t["id"])
    # The MTA delivering it again (it lost our answer): accepted, and not taken twice.
    again = await lmtp_send(port, data)
    assert [code for code, _ in again] == [250, 250]
    assert "received before" in again[0][1]
    assert await comment_bodies(db, t["id"]) == ["重启后恢复正常，谢谢。"]


async def test_what_can_never_be_taken_is_refused_per_recipient(
    port: int, world: World, db: asyncpg.Connection
) -> None:
    before = await db.fetchval("SELECT count(*) FROM inbound_messages")
    malformed = b"Subject: no sender at all\r\n\r\nhello\r\n"
    replies = await lmtp_send(port, malformed)
    assert [code for code, _ in replies] == [550, 550], replies
    assert replies[0][1].startswith("5.6.0")
    nul = b"From: wang@example.cn\r\n\r\nNUL \x00 byte\r\n"
    assert [code for code, _ in await lmtp_send(port, nul)] == [550, 550]
    assert await db.fetchval("SELECT count(*) FROM inbound_messages") == before
    # An unknown sender (no default customer): refused, and recorded as such.
    stranger = reply(str(uuid.uuid4())).replace(b"wang@example.cn", b"who@else.example")
    replies = await lmtp_send(port, stranger)
    assert [code for code, _ in replies] == [550, 550] and "5.7.1" in replies[0][1]
    assert await db.fetchval("SELECT outcome FROM inbound_messages") == "refused"


async def test_a_loop_and_a_bounce_are_accepted_and_never_bounced(
    port: int, world: World, db: asyncpg.Connection
) -> None:
    t = await ticket(world)
    ours = reply(t["id"]).replace(b"wang@example.cn", b"support@supportline.local")
    replies = await lmtp_send(port, ours, RECIPIENTS[:1], sender="support@supportline.local")
    assert replies[0][0] == 250 and "Discarded" in replies[0][1]
    auto = reply(t["id"], "我在休假", **{"Auto-Submitted": "auto-replied"})
    replies = await lmtp_send(port, auto, RECIPIENTS[:1], sender="<>")
    assert replies[0][0] == 250 and "auto_reply" in replies[0][1]
    assert await comment_bodies(db, t["id"]) == []


async def test_too_large_a_message_is_refused_once_per_recipient(
    port: int, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "mail_in_max_bytes", 4096)
    # The limit is the listener's: one started under the new setting.
    server = await lmtp.start("127.0.0.1", 0)
    small = server.sockets[0].getsockname()[1]
    try:
        t = await ticket(world)
        replies = await lmtp_send(small, reply(t["id"], "长" * 4000))
        assert [code for code, _ in replies] == [552, 552], replies
    finally:
        server.close()
        await server.wait_closed()


async def test_a_database_failure_defers_the_message(
    port: int, world: World, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = await ticket(world)
    data = reply(t["id"])
    # The table taken away for a moment (what a dropped connection or a failover looks
    # like to the listener): 451, so the MTA keeps the message; nothing half-written.
    await db.execute("ALTER TABLE inbound_messages RENAME TO inbound_messages_away")
    try:
        replies = await lmtp_send(port, data)
    finally:
        await db.execute("ALTER TABLE inbound_messages_away RENAME TO inbound_messages")
    assert [code for code, _ in replies] == [451, 451], replies
    assert await comment_bodies(db, t["id"]) == []
    # Sent again once the database is back: taken.
    assert [code for code, _ in await lmtp_send(port, data)] == [250, 250]
    assert len(await comment_bodies(db, t["id"])) == 1


async def test_supportline_mail_in_serves_until_sigterm(
    services: dict[str, str], world: World, db: asyncpg.Connection
) -> None:
    """The console command itself: listening on MAIL_IN_HOST:MAIL_IN_PORT, a delivery,
    then SIGTERM: it stops listening and exits 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": services["database_url"], "MAIL_IN_PORT": str(free),
           "MAIL_IN_HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "mail-in"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        assert f"LMTP listening on 127.0.0.1:{free}" in line.decode(), line
        t = await ticket(world)
        assert [code for code, _ in await lmtp_send(free, reply(t["id"]))] == [250, 250]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        assert b"stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(await comment_bodies(db, t["id"])) == 1
