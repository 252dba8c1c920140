"""Delivery over SMTP against a real SMTP server in process (tests/mailsink.py): what the
server receives, one session for many messages, a refused recipient that dead-letters
only its delivery, temporary failures and their backoff, the server stopped in the
middle of a run, no answer after the body, a worker killed between DATA and the record
(simulated, and a real worker process killed at that point), suppression, mail turned
off, and the API of dead letters and the suppression list.

Deliveries are written here by `add_delivery`, as the outbox consumer would write them
(rendered, `queued`); the clock is pinned, so backoff and leases are walked through
without sleeping."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.clock import get_clock
from app.core.config import Settings, get_settings
from app.core.db import open_uow
from app.core.ids import uuid7
from app.mail import jobs, sender
from app.mail.ids import delivery_message_id, ticket_root_id
from app.mail.models import EmailDelivery
from tests.conftest import issue_key
from tests.mailsink import MailSink
from tests.workers.harness import Worker, held_redis_db

DOMAIN = "supportline.local"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def mail_settings(monkeypatch: pytest.MonkeyPatch, sink: MailSink) -> Settings:
    """The process settings pointed at the sink, with known retry figures."""
    s = get_settings()
    for name, value in {
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": "none",
        "smtp_username": None,
        "smtp_timeout_seconds": 2.0,
        "smtp_batch_size": 50,
        "mail_enabled": True,
        "mail_from": "Supportline 技术支持中心 <support@supportline.local>",
        "mail_domain": DOMAIN,
        "mail_max_attempts": 3,
        "mail_backoff_base_seconds": 30.0,
        "mail_backoff_max_seconds": 3600.0,
        "mail_sending_stale_seconds": 120,
        "mail_suppress_after_bounces": 3,
    }.items():
        monkeypatch.setattr(s, name, value)
    return s


@pytest.fixture(autouse=True)
def _fresh_sender() -> Iterator[None]:
    sender.reset_circuits()
    yield
    sender.reset_circuits()


async def add_delivery(**kw: Any) -> EmailDelivery:
    """A rendered delivery as the outbox consumer writes it (queued, due now)."""
    outbox_id = kw.pop("outbox_id", None) or uuid7()
    address = kw.pop("address", None) or f"user{uuid.uuid4().hex[:8]}@example.cn"
    ticket_id = kw.pop("ticket_id", None) or uuid7()
    now = kw.pop("now", None) or get_clock().now()
    row = EmailDelivery(
        outbox_id=outbox_id,
        event_type=kw.pop("event_type", "ticket.created"),
        ticket_id=ticket_id,
        ticket_number=kw.pop("ticket_number", "T2026-000123"),
        role="reporter",
        recipient_kind="contact",
        address=address,
        display_name=kw.pop("display_name", "王伟"),
        language=kw.pop("language", "zh-CN"),
        message_id=delivery_message_id(outbox_id, address, DOMAIN),
        in_reply_to=kw.pop("in_reply_to", ticket_root_id(ticket_id, DOMAIN)),
        subject=kw.pop("subject", "[T2026-000123] 工单已受理:核心交换机电源模块告警"),
        text_body=kw.pop("text_body", "王伟 您好:\n\n您的工单 T2026-000123 已受理。\n"),
        html_body=kw.pop("html_body", "<p>王伟 您好:</p><p>您的工单已受理。</p>"),
        **kw,
    )
    row.available_at = row.created_at = row.updated_at = now
    async with open_uow() as uow:
        uow.session.add(row)
    return row


async def fetch(db: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM email_deliveries WHERE id = $1", delivery_id)
    assert row is not None
    return row


async def history(db: asyncpg.Connection, delivery_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT * FROM email_delivery_attempts WHERE delivery_id = $1 ORDER BY started_at, id",
            delivery_id,
        )
    )


async def states(db: asyncpg.Connection) -> dict[str, int]:
    rows = await db.fetch("SELECT state, count(*) AS n FROM email_deliveries GROUP BY state")
    return {r["state"]: int(r["n"]) for r in rows}


async def run_until_idle(
    clock: Any, step: timedelta = timedelta(minutes=2), rounds: int = 20
) -> None:
    """Send passes, moving the pinned clock on between them, until nothing is open."""
    for _ in range(rounds):
        await jobs.send_mail({})
        async with open_uow() as uow:
            conn = await uow.connection()
            left = await conn.fetchval(
                "SELECT count(*) FROM email_deliveries WHERE state IN ('queued', 'retrying', 'sending')"
            )
        if not left:
            return
        clock.set(clock.now() + step)
    raise AssertionError("deliveries still open")


# --- what the server receives ---------------------------------------------------------------


async def test_the_server_receives_each_message_with_its_headers_and_both_parts(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    ticket_id = uuid7()
    zh = await add_delivery(ticket_id=ticket_id, address="Wang.Wei@Example.CN".lower())
    en = await add_delivery(
        ticket_id=ticket_id,
        address="j.smith@example.com",
        display_name="John Smith",
        language="en",
        subject="[T2026-000123] Ticket received: core switch power alarm",
        text_body="Dear John,\n\nYour ticket T2026-000123 has been received.\n",
        html_body="<p>Dear John,</p><p>Your ticket has been received.</p>",
    )
    result = await sender.send_pass()
    assert (result.claimed, result.sent, result.failed) == (2, 2, 0)

    assert sink.accepted_count() == 2
    got = {r.rcpt_tos[0]: r for r in sink.received}
    assert set(got) == {"wang.wei@example.cn", "j.smith@example.com"}
    # One SMTP session for both messages.
    assert got["wang.wei@example.cn"].peer == got["j.smith@example.com"].peer
    root = ticket_root_id(ticket_id, DOMAIN)
    for row, received in ((zh, got["wang.wei@example.cn"]), (en, got["j.smith@example.com"])):
        assert received.mail_from == "support@supportline.local"
        m = received.message
        assert m["Message-ID"] == row.message_id
        assert m["In-Reply-To"] == root
        assert m["References"] == root
        assert m["Subject"] == row.subject
        assert m["Auto-Submitted"] == "auto-generated"
        assert m["X-Auto-Response-Suppress"] == "All"
        assert m["Date"].datetime == row.created_at.replace(microsecond=0)
        assert m["From"].addresses[0].display_name == "Supportline 技术支持中心"
        assert m["From"].addresses[0].addr_spec == "support@supportline.local"
        assert m["To"].addresses[0].display_name == row.display_name
        assert m["To"].addresses[0].addr_spec == row.address
        assert m.get_content_type() == "multipart/alternative"
        text, html = m.get_body(("plain",)), m.get_body(("html",))
        assert text is not None and html is not None
        assert text.get_content().replace("\r\n", "\n") == row.text_body
        assert html.get_content().replace("\r\n", "\n") == row.html_body
        assert "[T2026-000123]" in m["Subject"]
    for row in (zh, en):
        stored = await fetch(db, row.id)
        assert stored["state"] == "sent"
        assert stored["sent_at"] == clock.now()
        assert (stored["attempts"], stored["resends"], stored["last_error"]) == (1, 0, None)
        [attempt] = await history(db, row.id)
        assert attempt["outcome"] == "sent"
        assert attempt["code"] == 250
        assert "queued" in attempt["reply"]
        assert attempt["server"] == f"{sink.host}:{sink.port}"


async def test_a_resend_is_the_same_message_byte_for_byte(mail_settings: Settings) -> None:
    from app.mail import smtp

    row = await add_delivery(text_body="第一行\n第二行\n" * 40, html_body="<p>x</p>" * 300)
    out = smtp.outgoing(row)
    first = smtp.build_message(out, mail_settings).as_bytes()
    again = smtp.build_message(out, mail_settings).as_bytes()
    assert first == again


async def test_many_messages_go_in_sessions_of_the_batch_size(
    mail_settings: Settings, sink: MailSink, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mail_settings, "smtp_batch_size", 10)
    for _ in range(25):
        await add_delivery()
    assert await jobs.send_mail({}) == 25
    assert sink.accepted_count() == 25
    sessions = {r.peer for r in sink.received}
    assert len(sessions) == 3
    assert all(n == 1 for n in map(sink.copies, sink.by_message_id()))


async def test_an_address_that_is_not_ascii_goes_with_smtputf8(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    row = await add_delivery(address="张伟@例子.中国", display_name="张伟", subject="工单已受理")
    assert (await sender.send_pass()).sent == 1
    [received] = sink.received
    assert received.rcpt_tos == ["张伟@例子.中国"]
    assert "SMTPUTF8" in received.mail_options
    assert received.message["To"].addresses[0].addr_spec == "张伟@例子.中国"
    assert received.message["Message-ID"] == row.message_id
    assert (await fetch(db, row.id))["state"] == "sent"


# --- refusals and temporary failures ----------------------------------------------------------


async def test_a_5xx_for_one_recipient_dead_letters_only_that_delivery(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    first = await add_delivery(address="a@example.cn")
    refused = await add_delivery(address="gone@example.cn")
    last = await add_delivery(address="c@example.cn")
    sink.reject["gone@example.cn"] = "550 5.1.1 <gone@example.cn>: Recipient address rejected"
    result = await sender.send_pass()
    assert (result.sent, result.failed) == (2, 1)
    # The others went on in the same session.
    assert [r.rcpt_tos for r in sink.received] == [["a@example.cn"], ["c@example.cn"]]
    assert len({r.peer for r in sink.received}) == 1
    dead = await fetch(db, refused.id)
    assert dead["state"] == "dead"
    assert dead["attempts"] == 1
    assert dead["last_error"].startswith("rcpt: 550 5.1.1")
    assert [(a["outcome"], a["code"]) for a in await history(db, refused.id)] == [
        ("permanent", 550)
    ]
    for row in (first, last):
        assert (await fetch(db, row.id))["state"] == "sent"
    # A synchronous hard bounce counts toward the suppression list (3 suppress).
    bounce = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = 'gone@example.cn'")
    assert (bounce["hard_bounces"], bounce["suppressed"]) == (1, False)


async def test_refusals_of_the_message_or_by_policy_do_not_count_as_bounces(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    spam = await add_delivery(address="a@example.cn")
    policy = await add_delivery(address="b@example.cn")
    sink.reject_data = 1  # 554 5.7.1 after the body
    sink.reject["b@example.cn"] = "550 5.7.1 Relaying denied by policy"
    await sender.send_pass()
    for row in (spam, policy):
        assert (await fetch(db, row.id))["state"] == "dead"
    assert (await fetch(db, spam.id))["last_error"].startswith("data: 554")
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0


async def test_a_4xx_retries_with_backoff_then_dead_letters_after_the_attempts(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    row = await add_delivery(address="busy@example.cn")
    other = await add_delivery(address="fine@example.cn")
    sink.tempfail.add("busy@example.cn")
    start = clock.now()
    await sender.send_pass()
    busy = await fetch(db, row.id)
    assert busy["state"] == "retrying"
    assert busy["attempts"] == 1
    assert busy["last_error"].startswith("rcpt: 451")
    assert busy["sending_at"] is None  # nothing was handed over: the next try is no resend
    # 30 s, shortened by up to 10 % of jitter.
    assert start + timedelta(seconds=27) <= busy["available_at"] <= start + timedelta(seconds=30)
    assert (await fetch(db, other.id))["state"] == "sent"

    # Not due before its time: nothing happens.
    clock.set(busy["available_at"] - timedelta(seconds=1))
    assert (await sender.send_pass()).claimed == 0
    clock.set(busy["available_at"])
    await sender.send_pass()
    second = await fetch(db, row.id)
    assert (second["state"], second["attempts"]) == ("retrying", 2)
    # Doubled: 60 s (54..60 with jitter).
    assert clock.now() + timedelta(seconds=54) <= second["available_at"]
    assert second["available_at"] <= clock.now() + timedelta(seconds=60)
    clock.set(second["available_at"])
    await sender.send_pass()
    final = await fetch(db, row.id)
    assert (final["state"], final["attempts"]) == ("dead", 3)  # MAIL_MAX_ATTEMPTS = 3
    assert [a["outcome"] for a in await history(db, row.id)] == ["temporary"] * 3
    assert sink.to("busy@example.cn") == []


async def test_a_451_after_the_body_is_a_plain_retry(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    row = await add_delivery()
    sink.tempfail_data = 1
    await sender.send_pass()
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["sending_at"]) == ("retrying", None)
    clock.set(stored["available_at"])
    await sender.send_pass()
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["attempts"], stored["resends"]) == ("sent", 2, 0)
    assert sink.copies(row.message_id) == 1


async def test_a_message_that_cannot_be_built_is_dead_without_a_word_to_the_server(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    bad = await add_delivery(address="not an address")
    injected = await add_delivery(in_reply_to="<a@b>\r\nBcc: victim@example.cn")
    good = await add_delivery()
    await sender.send_pass()
    for row in (bad, injected):
        stored = await fetch(db, row.id)
        assert stored["state"] == "dead"
        assert stored["last_error"].startswith("build: ")
    assert (await fetch(db, good.id))["state"] == "sent"
    assert [r.message_id for r in sink.received] == [good.message_id]


async def test_a_subject_with_line_breaks_is_sent_on_one_line(
    mail_settings: Settings, sink: MailSink
) -> None:
    await add_delivery(subject="[T2026-000123] 第一行\r\nBcc: victim@example.cn")
    await sender.send_pass()
    [received] = sink.received
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "[T2026-000123] 第一行 Bcc: victim@example.cn"


# --- the server goes away -------------------------------------------------------------------


async def test_an_unreachable_server_touches_no_delivery_and_is_left_alone_for_a_while(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery() for _ in range(3)]
    sink.stop()
    result = await sender.send_pass()
    assert result.blocked and result.claimed == 0
    for row in rows:
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["attempts"], stored["last_error"]) == ("queued", 0, None)
    failures, until, error = sender.circuit_state(f"{sink.host}:{sink.port}")
    assert failures == 1 and until is not None and "SMTPConnect" in error
    # Within the backoff no connection is tried: the server may be back, nothing goes.
    sink.start()
    assert (await sender.send_pass()).blocked
    assert sink.accepted_count() == 0
    clock.set(until)
    assert (await sender.send_pass()).sent == 3
    assert sender.circuit_state(f"{sink.host}:{sink.port}")[0] == 0


async def test_the_server_stopped_mid_run_and_started_again_every_message_arrives_once(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery() for _ in range(20)]
    sink.stop_before_mail = 7  # 7 messages taken, then the server goes in mid-session
    result = await sender.send_pass()
    assert result.sent == 7
    assert result.failed == 1  # the 8th: the connection lost before DATA
    assert result.released == 12  # given back, untouched
    got = await states(db)
    assert got == {"sent": 7, "retrying": 1, "queued": 12}
    # An hour down: passes find no server, touch nothing.
    for _ in range(30):
        clock.set(clock.now() + timedelta(minutes=2))
        await jobs.send_mail({})
    assert await states(db) == got
    assert sender.circuit_state(f"{sink.host}:{sink.port}")[0] > 3
    # Back: everything goes, once.
    sink.start()
    clock.set(clock.now() + timedelta(minutes=2))
    await run_until_idle(clock)
    assert await states(db) == {"sent": 20}
    copies = sink.by_message_id()
    assert sorted(copies) == sorted(r.message_id for r in rows)
    assert all(len(c) == 1 for c in copies.values())
    assert await db.fetchval("SELECT sum(resends) FROM email_deliveries") == 0


@pytest.mark.parametrize("how", ["dropped", "timed out"])
async def test_no_answer_after_the_body_is_a_resend_with_the_same_message_id(
    how: str,
    mail_settings: Settings,
    sink: MailSink,
    clock: Any,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mail_settings, "smtp_timeout_seconds", 0.5)
    row = await add_delivery()
    after = await add_delivery()
    sink.silent_after_data = 1
    sink.drop_silently = how == "dropped"
    result = await sender.send_pass()
    assert (result.sent, result.failed, result.released) == (0, 1, 1)
    stored = await fetch(db, row.id)
    assert stored["state"] == "retrying"
    assert stored["sending_at"] is not None  # it may have been accepted
    [attempt] = await history(db, row.id)
    assert attempt["outcome"] == "unknown"
    assert sink.copies(row.message_id) == 1  # the server did take it

    await run_until_idle(clock)
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["attempts"], stored["resends"]) == ("sent", 2, 1)
    # The receiver sees the same Message-ID twice and drops the copy.
    assert sink.copies(row.message_id) == 2
    assert [r.message for r in sink.received if r.message_id == row.message_id][1][
        "Message-ID"
    ] == row.message_id
    assert [(a["outcome"], a["resend"]) for a in await history(db, row.id)] == [
        ("unknown", False),
        ("sent", True),
    ]
    assert sink.copies(after.message_id) == 1
    assert (await fetch(db, after.id))["resends"] == 0


async def test_a_worker_killed_between_data_and_the_record_resends_once_its_lease_ends(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    """What a worker killed right after DATA leaves behind: the row `sending`, its
    attempt in progress, its lease running (simulated; the real kill is below)."""
    now = clock.now()
    started = now - timedelta(seconds=30)
    row = await add_delivery(now=now - timedelta(minutes=1))
    await db.execute(
        "UPDATE email_deliveries SET state = 'sending', attempts = 1, sending_at = $2,"
        " available_at = $3 WHERE id = $1",
        row.id, started, started + timedelta(seconds=120),
    )  # fmt: skip
    await db.execute(
        "INSERT INTO email_delivery_attempts (id, delivery_id, started_at, outcome, resend,"
        " server) VALUES ($1, $2, $3, 'in_progress', false, 'old:25')",
        uuid7(), row.id, started,
    )  # fmt: skip
    # While the lease runs, nobody touches it (the worker might be alive and slow).
    assert (await sender.send_pass()).claimed == 0
    clock.set(started + timedelta(seconds=120))
    result = await sender.send_pass()
    assert result.sent == 1
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["attempts"], stored["resends"]) == ("sent", 2, 1)
    assert [(a["outcome"], a["resend"]) for a in await history(db, row.id)] == [
        ("interrupted", False),
        ("sent", True),
    ]
    [received] = sink.received
    assert received.message_id == row.message_id


async def test_a_claim_whose_lease_ran_out_is_not_started_by_its_first_claimer(
    mail_settings: Settings, sink: MailSink, clock: Any, db: asyncpg.Connection
) -> None:
    """Two workers, the first so slow that its claim's lease ran out: the second owns the
    row, and the first can neither start it nor record over it."""
    from app.core.db import UnitOfWork, sessionmaker
    from app.mail.repository import sending

    row = await add_delivery()
    uow = UnitOfWork(sessionmaker())
    try:
        now = clock.now()
        first_token = now + timedelta(seconds=120)
        assert len(await sending.claim(uow, now, first_token, 10)) == 1
        clock.set(first_token)
        assert (await sender.send_pass()).sent == 1  # the second worker
        begin = sending.Start(row.id, uuid7(), first_token,
                              clock.now() + timedelta(seconds=120), "x:25")  # fmt: skip
        late = await sending.start(uow, begin, clock.now())
        assert late is None
    finally:
        await uow.close()
    assert sink.copies(row.message_id) == 1
    assert (await fetch(db, row.id))["resends"] == 0


# --- suppression, mail turned off ---------------------------------------------------------------


async def test_suppressed_addresses_are_never_sent(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    await db.execute(
        "INSERT INTO mail_suppressions (address, hard_bounces, suppressed, created_at,"
        " updated_at) VALUES ('bounced@example.cn', 3, true, now(), now()),"
        " ('released@example.cn', 0, false, now(), now())"
    )
    held = await add_delivery(address="bounced@example.cn")
    free = await add_delivery(address="released@example.cn")
    result = await sender.send_pass()
    assert (result.suppressed, result.sent) == (1, 1)
    stored = await fetch(db, held.id)
    assert (stored["state"], stored["attempts"]) == ("suppressed", 0)
    assert "suppression" in stored["reason"]
    assert sink.to("bounced@example.cn") == []
    assert len(sink.to("released@example.cn")) == 1
    assert (await fetch(db, free.id))["state"] == "sent"


async def test_three_synchronous_hard_bounces_suppress_the_address(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    sink.reject["gone@example.cn"] = "550 5.1.1 User unknown"
    for _ in range(3):
        await add_delivery(address="gone@example.cn")
    await sender.send_pass()
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = 'gone@example.cn'")
    assert (row["hard_bounces"], row["suppressed"]) == (3, True)
    later = await add_delivery(address="gone@example.cn")
    await sender.send_pass()
    assert (await fetch(db, later.id))["state"] == "suppressed"


async def test_mail_turned_off_sends_nothing_and_loses_nothing(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = await add_delivery()
    monkeypatch.setattr(mail_settings, "mail_enabled", False)
    assert await jobs.send_mail({}) == 0
    assert sink.accepted_count() == 0
    assert (await fetch(db, row.id))["state"] == "queued"
    monkeypatch.setattr(mail_settings, "mail_enabled", True)
    assert await jobs.send_mail({}) == 1
    assert sink.copies(row.message_id) == 1


# --- a real worker killed between DATA and the record ---------------------------------------------

WORKER_REDIS_DB = int(os.environ.get("MAIL_TEST_REDIS_DB", "15"))
LOCK_KEY = "supportline:test:mail-crash-lock"


@pytest.fixture
async def worker_redis(services: dict[str, str]) -> AsyncIterator[str]:
    async with held_redis_db(services["redis_url"], WORKER_REDIS_DB, LOCK_KEY) as url:
        yield url


def _worker_env(services: dict[str, str], redis_url: str, sink: MailSink) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": services["database_url"],
            "REDIS_URL": redis_url,
            "SMTP_HOST": sink.host,
            "SMTP_PORT": str(sink.port),
            "SMTP_SECURITY": "none",
            "SMTP_TIMEOUT_SECONDS": "1",
            "MAIL_SENDING_STALE_SECONDS": "5",  # the lease: max(5, 4 time-outs)
            "MAIL_POLL_SECONDS": "1",
            "MAIL_DOMAIN": DOMAIN,
            "LOG_LEVEL": "INFO",
            "WORKER_HEALTH_CHECK_INTERVAL": "2",
        }
    )
    return env


@pytest.mark.slow
async def test_a_worker_process_killed_between_data_and_the_record(
    services: dict[str, str],
    worker_redis: str,
    sink: MailSink,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """The server has taken the 5th message when the worker is SIGKILLed, before the
    250 reaches it: that row stays `sending`. A second worker sends it again once the
    lease ends (same Message-ID, counted in `resends`), and the rows the first one had
    claimed but not started go without being counted as resends."""
    rows = [await add_delivery() for _ in range(10)]
    env = _worker_env(services, worker_redis, sink)
    first = Worker(env, tmp_path / "first.log")
    killed: list[str] = []

    def kill_on_fifth(received: Any) -> None:
        if sink.accepted_count() == 5 and not killed:
            killed.append(received.message_id)
            os.kill(first.pid, signal.SIGKILL)

    sink.on_data = kill_on_fifth
    second: Worker | None = None
    try:
        await first.ready()
        deadline = time.monotonic() + 30
        while first.proc.poll() is None:
            assert time.monotonic() < deadline, first.tail()
            await asyncio.sleep(0.05)
        [victim] = killed
        stuck = await db.fetchrow("SELECT * FROM email_deliveries WHERE message_id = $1", victim)
        assert stuck["state"] == "sending" and stuck["sending_at"] is not None
        assert await db.fetchval("SELECT count(*) FROM email_deliveries WHERE state = 'sent'") == 4
        sink.on_data = None
        second = Worker(env, tmp_path / "second.log")
        await second.ready()
        deadline = time.monotonic() + 40
        while await db.fetchval("SELECT count(*) FROM email_deliveries WHERE state = 'sent'") < 10:
            assert time.monotonic() < deadline, second.tail()
            assert second.proc.poll() is None, second.tail()
            await asyncio.sleep(0.1)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    copies = sink.by_message_id()
    assert sorted(copies) == sorted(r.message_id for r in rows)
    assert {m: len(c) for m, c in copies.items() if len(c) != 1} == {victim: 2}
    resent = await db.fetch("SELECT message_id, resends FROM email_deliveries WHERE resends > 0")
    assert [(r["message_id"], r["resends"]) for r in resent] == [(victim, 1)]
    victim_id = stuck["id"]
    assert [(a["outcome"], a["resend"]) for a in await history(db, victim_id)] == [
        ("interrupted", False),
        ("sent", True),
    ]


# --- the jobs ------------------------------------------------------------------------------------


async def test_a_wake_up_during_a_pass_makes_it_look_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    async def fake_pass(**kw: Any) -> sender.PassResult:
        calls.append(len(calls))
        if len(calls) == 1:
            assert await jobs.send_mail({}) == 0  # a wake-up while this pass runs
        return sender.PassResult()

    monkeypatch.setattr(sender, "send_pass", fake_pass)
    await jobs.send_mail({})
    assert len(calls) == 2


async def test_wake_after_commit_enqueues_one_send_job_per_unit_of_work(
    services: dict[str, str],
) -> None:
    from app.core import queue

    pool = await queue.get_pool()
    before = set(await pool.zrange("arq:queue", 0, -1))
    async with open_uow() as uow:
        await add_delivery()
        jobs.wake_after_commit(uow)
        jobs.wake_after_commit(uow)
        uow.session.add(EmailDelivery(outbox_id=uuid7(), event_type="x", recipient_kind="address",
                                      address="x@example.cn", message_id="<x@y>"))  # fmt: skip
    added = [j.decode() for j in set(await pool.zrange("arq:queue", 0, -1)) - before]
    try:
        assert len(added) == 1 and added[0].startswith(jobs.WAKE_JOB_PREFIX)
    finally:
        await queue.discard(added)

    # A rolled-back unit of work wakes nobody.
    before = set(await pool.zrange("arq:queue", 0, -1))
    with pytest.raises(RuntimeError):
        async with open_uow() as uow:
            jobs.wake_after_commit(uow)
            raise RuntimeError("rolled back")
    assert set(await pool.zrange("arq:queue", 0, -1)) == before


async def test_send_digests_composes_then_sends(
    mail_settings: Settings, sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    composed: list[datetime] = []

    async def compose_due(uow: Any, now: datetime) -> int:
        composed.append(now)
        uow.session.add(EmailDelivery(
            event_type="digest", recipient_kind="engineer", address="mgr@example.cn",
            message_id=f"<sl.{uuid7()}.0000000000000000@{DOMAIN}>", subject="[摘要] 3 条通知",
            text_body="摘要", html_body="<p>摘要</p>",
            available_at=get_clock().now(), created_at=get_clock().now(),
        ))  # fmt: skip
        return 1

    module = types.ModuleType("app.mail.digest")
    module.compose_due = compose_due  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.mail.digest", module)
    assert await jobs.send_digests({}) == 1
    assert len(composed) == 1
    assert [r.rcpt_tos for r in sink.received] == [["mgr@example.cn"]]


async def test_send_digests_without_a_digest_module_only_sends(
    mail_settings: Settings, sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "app.mail.digest", None)  # "no such module"
    await add_delivery()
    assert await jobs.send_digests({}) == 0
    assert sink.accepted_count() == 1


# --- the API: dead letters, their retry, the suppression list -----------------------------------

PROBLEM = "application/problem+json"


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def tickets(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """A ticket in each of two branches (the deliveries' scope)."""
    from tests.factories import build_world, ticket_body

    world = await build_world()
    own = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
    assert own.status_code == 201, own.text
    other_body = ticket_body(world, customer_id=str(world.other_customer_id),
                             contact_id=str(world.other_contact_id),
                             device_id=str(world.other_device_id))  # fmt: skip
    other = await client.post("/v1/tickets", json=other_body, headers=admin)
    assert other.status_code == 201, other.text
    return {"world": world, "own": own.json()["id"], "other": other.json()["id"]}


async def test_dead_deliveries_are_listed_and_retried_through_the_api(
    mail_settings: Settings,
    sink: MailSink,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    sink.reject["gone@example.cn"] = "550 5.1.1 User unknown"
    dead = await add_delivery(address="gone@example.cn")
    fine = await add_delivery(address="ok@example.cn")
    await sender.send_pass()

    r = await client.get("/v1/mail/deliveries", params={"state": "dead"}, headers=admin)
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()["items"]] == [str(dead.id)]
    item = r.json()["items"][0]
    assert item["last_error"].startswith("rcpt: 550")
    assert (item["attempts"], item["message_id"]) == (1, dead.message_id)

    r = await client.get(f"/v1/mail/deliveries/{dead.id}", headers=admin)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["text_body"] == dead.text_body
    assert [(a["outcome"], a["code"]) for a in detail["history"]] == [("permanent", 550)]

    # The address works again (the user was created); retry it.
    sink.reject.clear()
    r = await client.post(f"/v1/mail/deliveries/{dead.id}/retry", headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["attempts"]) == ("queued", 0)
    assert r.json()["message_id"] == dead.message_id
    await sender.send_pass()
    assert (await fetch(db, dead.id))["state"] == "sent"
    assert len(sink.to("gone@example.cn")) == 1

    # Only dead ones: anything else is a 409.
    for row in (dead, fine):
        body = problem(await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers=admin), 409)
        assert body["state"] == "sent"
    problem(await client.post(f"/v1/mail/deliveries/{uuid7()}/retry", headers=admin), 404)
    problem(await client.get(f"/v1/mail/deliveries/{uuid7()}", headers=admin), 404)


async def test_retry_dead_in_bulk_by_filter_leaves_suppressed_addresses_dead(
    mail_settings: Settings,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    created = [await add_delivery(event_type="ticket.created", state="dead") for _ in range(2)]
    resolved = await add_delivery(event_type="ticket.resolved", state="dead")
    held = await add_delivery(event_type="ticket.created", state="dead", address="x@example.cn")
    await add_delivery(event_type="ticket.created")  # queued: not touched
    await db.execute(
        "INSERT INTO mail_suppressions (address, hard_bounces, suppressed, created_at,"
        " updated_at) VALUES ('x@example.cn', 3, true, now(), now())"
    )
    r = await client.post("/v1/mail/deliveries/retry-dead", json={"event_type": "ticket.created"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"retried": 2, "suppressed": 1, "remaining": 0}
    for row in created:
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["attempts"]) == ("queued", 0)
    assert (await fetch(db, held.id))["state"] == "dead"
    assert (await fetch(db, resolved.id))["state"] == "dead"
    # A retry of one to a suppressed address says why it will not.
    body = problem(await client.post(f"/v1/mail/deliveries/{held.id}/retry", headers=admin), 409)
    assert body["type"].endswith("address-suppressed")
    # No filter: every dead one (the body may be left out).
    r = await client.post("/v1/mail/deliveries/retry-dead", headers=admin)
    assert r.json() == {"retried": 1, "suppressed": 1, "remaining": 0}
    assert (await fetch(db, resolved.id))["state"] == "queued"

    stats = (await client.get("/v1/mail/deliveries/stats", headers=admin)).json()
    assert stats["queued"] == 4 and stats["dead"] == 1 and stats["due"] == 4


async def test_a_branch_key_sees_and_retries_only_its_branch_deliveries(
    mail_settings: Settings,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    tickets: dict[str, Any],
    db: asyncpg.Connection,
) -> None:
    mine = await add_delivery(ticket_id=uuid.UUID(tickets["own"]), state="dead")
    theirs = await add_delivery(ticket_id=uuid.UUID(tickets["other"]), state="dead")
    digest = await add_delivery(ticket_id=None, state="dead")
    await db.execute("UPDATE email_deliveries SET ticket_id = NULL WHERE id = $1", digest.id)
    manager = await issue_key("manager", tickets["world"].branch_id)

    r = await client.get("/v1/mail/deliveries", headers=manager)
    assert [d["id"] for d in r.json()["items"]] == [str(mine.id)]
    r = await client.get("/v1/mail/deliveries", headers=admin)
    assert {d["id"] for d in r.json()["items"]} == {str(mine.id), str(theirs.id), str(digest.id)}
    problem(await client.get(f"/v1/mail/deliveries/{theirs.id}", headers=manager), 404)
    problem(await client.post(f"/v1/mail/deliveries/{theirs.id}/retry", headers=manager), 404)
    r = await client.post("/v1/mail/deliveries/retry-dead", json={}, headers=manager)
    assert r.json()["retried"] == 1
    assert (await fetch(db, theirs.id))["state"] == "dead"
    assert (await fetch(db, digest.id))["state"] == "dead"
    # The suppression list is the whole centre's.
    problem(await client.get("/v1/mail/suppressions", headers=manager), 403)
    r = await client.post("/v1/mail/suppressions", json={"address": "a@example.cn", "reason": "x"},
                          headers=manager)  # fmt: skip
    problem(r, 403)
    # Engineers do not manage mail at all.
    engineer = await issue_key("engineer")
    problem(await client.get("/v1/mail/deliveries", headers=engineer), 403)


async def test_the_list_filters_and_pages(
    mail_settings: Settings, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ticket = uuid7()
    rows = [await add_delivery(ticket_id=ticket, address=f"p{i}@example.cn") for i in range(5)]
    await add_delivery(event_type="ticket.closed")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"ticket_id": str(ticket), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/mail/deliveries", params=params, headers=admin)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(r.id) for r in reversed(rows)]  # newest first
    r = await client.get("/v1/mail/deliveries", params={"address": "P3@Example.CN"}, headers=admin)
    assert [d["id"] for d in r.json()["items"]] == [str(rows[3].id)]
    r = await client.get("/v1/mail/deliveries", params={"event_type": "ticket.closed"},
                         headers=admin)  # fmt: skip
    assert len(r.json()["items"]) == 1


async def test_the_suppression_list_add_list_and_release(
    mail_settings: Settings,
    sink: MailSink,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    r = await client.post("/v1/mail/suppressions",
                          json={"address": "Old.User@Example.CN", "reason": "客户反馈该邮箱已停用"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    assert (r.json()["address"], r.json()["suppressed"]) == ("old.user@example.cn", True)
    r = await client.post("/v1/mail/suppressions",
                          json={"address": "old.user@example.cn", "reason": "again"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["last_reason"] == "again"
    for address in ("b@example.cn", "c@example.cn"):
        await client.post("/v1/mail/suppressions", json={"address": address, "reason": "x"},
                          headers=admin)  # fmt: skip
    row = await add_delivery(address="old.user@example.cn")
    await sender.send_pass()
    assert (await fetch(db, row.id))["state"] == "suppressed"

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/mail/suppressions", params=params, headers=admin)).json()
        pages.append([s["address"] for s in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [["b@example.cn", "c@example.cn"], ["old.user@example.cn"]]

    r = await client.post("/v1/mail/suppressions/release", json={"address": "old.user@example.cn"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    released = r.json()
    assert (released["suppressed"], released["hard_bounces"]) == (False, 0)
    assert released["released_at"] is not None
    r = await client.get("/v1/mail/suppressions", params={"suppressed": "false"}, headers=admin)
    assert [s["address"] for s in r.json()["items"]] == ["old.user@example.cn"]
    problem(await client.post("/v1/mail/suppressions/release", json={"address": "no@example.cn"},
                              headers=admin), 404)  # fmt: skip
    later = await add_delivery(address="old.user@example.cn")
    await sender.send_pass()
    assert (await fetch(db, later.id))["state"] == "sent"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/v1/mail/deliveries", {"params": {"address": "a\x00@example.cn"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"address": "a" * 400 + "@example.cn"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"address": "not-an-address"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"state": "lost"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"ticket_id": "T2026-000123"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"cursor": "!!!"}}, 400),
        ("get", "/v1/mail/deliveries", {"params": {"event_type": "x" * 65}}, 422),
        ("get", "/v1/mail/deliveries/not-a-uuid", {}, 422),
        ("post", "/v1/mail/deliveries/not-a-uuid/retry", {}, 422),
        ("get", "/v1/mail/suppressions", {"params": {"cursor": "e30"}}, 400),
        ("get", "/v1/mail/suppressions", {"params": {"suppressed": "maybe"}}, 422),
        (
            "post",
            "/v1/mail/suppressions",
            {"json": {"address": "a\x00b@example.cn", "reason": "x"}},
            422,
        ),
        ("post", "/v1/mail/suppressions", {"json": {"address": 5, "reason": "x"}}, 422),
        (
            "post",
            "/v1/mail/suppressions",
            {"json": {"address": "a@example.cn", "reason": "x" * 5000}},
            422,
        ),
        ("post", "/v1/mail/suppressions", {"json": {"address": "a@example.cn", "reason": ""}}, 422),
        (
            "post",
            "/v1/mail/suppressions",
            {"json": {"address": "<a@example.cn>", "reason": "x"}},
            422,
        ),
        ("post", "/v1/mail/suppressions", {"json": {"address": "a@example.cn"}}, 422),
        ("post", "/v1/mail/suppressions", {"json": ["a@example.cn"]}, 422),
        (
            "post",
            "/v1/mail/suppressions/release",
            {"json": {"address": "a@example.cn", "x": 1}},
            422,
        ),
        ("post", "/v1/mail/deliveries/retry-dead", {"json": {"state": "sent"}}, 422),
        ("post", "/v1/mail/deliveries/retry-dead", {"json": {"ticket_id": 7}}, 422),
        ("post", "/v1/mail/deliveries/retry-dead", {"json": {"event_type": "a\x00b"}}, 422),
    ],
)
async def test_hostile_input_is_a_4xx_problem_and_writes_nothing(
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    await add_delivery(state="dead")
    r = await getattr(client, method)(path, headers=admin, **kwargs)
    problem(r, status)
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0
    assert await db.fetchval("SELECT state FROM email_deliveries") == "dead"


# --- the development sink of `supportline dev` ---------------------------------------------------


async def test_the_dev_sink_keeps_every_message_in_a_maildir(
    mail_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailbox

    from app.mail.devsink import DevMailSink

    dev = DevMailSink(tmp_path / "mail")
    dev.start()
    try:
        monkeypatch.setattr(mail_settings, "smtp_port", dev.port)
        row = await add_delivery(address="wang@example.cn")
        assert (await sender.send_pass()).sent == 1
    finally:
        dev.stop()
    [kept] = list(mailbox.Maildir(str(tmp_path / "mail"), create=False))
    assert kept["Message-ID"] == row.message_id
    assert kept["Delivered-To"] == "wang@example.cn"
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 1


async def test_a_pass_stopped_mid_message_finishes_and_records_it_first(
    mail_settings: Settings, sink: MailSink, db: asyncpg.Connection
) -> None:
    """A shutdown (ARQ cancels the job) while the server holds the answer to DATA: the
    message in hand is finished and recorded, the rest given back; no resend follows."""
    rows = [await add_delivery() for _ in range(3)]
    sink.data_delay = 0.5
    task = asyncio.ensure_future(sender.send_pass())
    await sink.wait_for(1, timeout=10)  # the first body is in, its answer pending
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    first = await fetch(db, rows[0].id)
    assert (first["state"], first["attempts"]) == ("sent", 1)
    for row in rows[1:]:
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["attempts"]) == ("queued", 0)
    sink.data_delay = 0
    assert (await sender.send_pass()).sent == 2
    assert all(sink.copies(r.message_id) == 1 for r in rows)
