"""Mail under attack and under stress (issue 12 review): hostile input on every mail
endpoint, races between senders, the API, bounces and the two ways mail comes in,
header injection through stored rows, addresses SMTP cannot carry, and SMTP servers that
answer what the sender does not expect. Real PostgreSQL, a real SMTP server in process
(tests/mailsink.py) and the real LMTP listener; the clock pinned where time matters."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.access.defaults import ensure_identities
from app.core.config import Settings, get_settings
from app.mail import sender
from app.mail.inbound import lmtp
from tests.api.conftest import PROBLEM, create_ticket, make_engineer, problem
from tests.api.test_mail_inbound import delivery, dsn, message, post, root
from tests.conftest import issue_key
from tests.factories import World
from tests.mailsink import MailSink, _Handler
from tests.workers.test_mail_delivery import DOMAIN, add_delivery, fetch, history

# --- fixtures ---------------------------------------------------------------------------------


class _OddHandler(_Handler):
    """The sink's handler, with the misbehaviours a real server shows and the sink lacks:
    an answer of our choice to MAIL, and the connection closed right after RCPT."""

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        sink = self.sink
        assert isinstance(sink, OddSink)
        if sink.mail_replies:
            return sink.mail_replies.pop(0)
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        sink = self.sink
        assert isinstance(sink, OddSink)
        answer = await super().handle_RCPT(server, session, envelope, address, options)
        if address.lower() in sink.close_after_rcpt:
            sink.close_after_rcpt.discard(address.lower())
            assert server.transport is not None
            # The server goes away once it has said yes: DATA is never answered.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self.sink
        assert isinstance(sink, OddSink)
        if sink.data_replies:
            return sink.data_replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


class OddSink(MailSink):
    def __init__(self) -> None:
        super().__init__()
        self.mail_replies: list[str] = []  # the next answers to MAIL FROM
        self.close_after_rcpt: set[str] = set()
        self.data_replies: list[str] = []  # the next answers to the body

    def start(self) -> None:
        import time

        from aiosmtpd.controller import Controller

        assert self._controller is None
        controller = Controller(_OddHandler(self), hostname=self.host, port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                controller.start()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        self._controller = controller


@pytest.fixture
def sink() -> Iterator[OddSink]:
    s = OddSink()
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def mail_settings(monkeypatch: pytest.MonkeyPatch, sink: OddSink) -> AsyncIterator[Settings]:
    """Both directions' settings: the sender pointed at the sink with known retry
    figures, mail in without a default customer; the mail identity present."""
    from app.core.db import open_uow

    async with open_uow() as uow:
        await ensure_identities(uow)
    s = get_settings()
    for name, value in {
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": "none",
        "smtp_username": None,
        # No test here waits for a time-out; a busy machine must not make one.
        "smtp_timeout_seconds": 10.0,
        "smtp_batch_size": 50,
        "mail_enabled": True,
        "mail_from": "Supportline 技术支持中心 <support@supportline.local>",
        "mail_domain": DOMAIN,
        "mail_max_attempts": 3,
        "mail_backoff_base_seconds": 30.0,
        "mail_backoff_max_seconds": 3600.0,
        "mail_sending_stale_seconds": 120,
        "mail_suppress_after_bounces": 3,
        "mail_in_default_customer": None,
    }.items():
        monkeypatch.setattr(s, name, value)
    sender.reset_circuits()
    yield s
    sender.reset_circuits()


async def counts(db: asyncpg.Connection) -> dict[str, int]:
    tables = ("inbound_messages", "tickets", "ticket_comments", "ticket_events", "outbox",
              "attachments", "email_deliveries", "email_delivery_attempts", "mail_suppressions",
              "notification_subscriptions", "notification_profiles", "idempotency_keys")  # fmt: skip
    return {t: int(await db.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


# --- mail in: what a hostile message carries ----------------------------------------------------

# Our own ids' shapes with what is no id inside: the pattern matches, the value is no UUID.
FORGED_THREADS = [
    f"<ticket.{'-' * 36}@{DOMAIN}>",
    f"<ticket.{'f' * 36}@{DOMAIN}>",
    f"<ticket.0192f3c4-0000-7000-8000-00000000000-@{DOMAIN}>",
    f"<sl.{'-' * 36}.{'0' * 16}@{DOMAIN}>",
]


@pytest.mark.parametrize("forged", FORGED_THREADS)
async def test_a_forged_thread_id_is_no_ticket_and_no_server_error(
    forged: str,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("还是不行", subject="设备告警", headers={"In-Reply-To": forged,
                                                          "References": f"{forged} {root(t['id'])}"})  # fmt: skip
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    # The genuine root id later in References still threads it.
    assert r.json()["ticket_id"] == t["id"] and r.json()["outcome"] == "comment", r.text
    alone = message("还是不行", subject="设备告警", headers={"In-Reply-To": forged})
    r = await post(client, admin, alone)
    assert r.status_code == 202 and r.json()["outcome"] == "ticket", r.text


async def test_a_forged_thread_id_over_lmtp_is_taken_not_deferred(
    world: World, mail_settings: Settings, db: asyncpg.Connection
) -> None:
    server = await lmtp.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        raw = message("还是不行", headers={"In-Reply-To": FORGED_THREADS[0]})
        replies = await asyncio.to_thread(_lmtp_send, port, raw)
    finally:
        server.close()
        await server.wait_closed()
    # 451 would make the MTA try again for days, then bounce the customer's mail.
    assert [c for c, _ in replies] == [250], replies
    assert await db.fetchval("SELECT outcome FROM inbound_messages") == "ticket"


def _lmtp_send(port: int, data: bytes, sender_address: str = "wang@example.cn") -> Any:
    with smtplib.LMTP("127.0.0.1", port) as c:
        assert c.ehlo()[0] == 250
        assert c.mail(sender_address)[0] == 250
        assert c.rcpt("support@supportline.local")[0] == 250
        code, text = c.data(data)
        return [(code, text.decode())]


@pytest.mark.parametrize(
    "from_header",
    [
        b"From: \xc2\x85bad@example.cn\r\n",  # NEL, a C1 control: not a mailbox
        b"From: <ba\xc2\x80d@example.cn>\r\n",
        b"From: =?utf-8?b?5byg?= <ba\x7fd@example.cn>\r\n",
    ],
)
async def test_a_sender_address_with_control_characters_is_refused_not_deferred(
    from_header: bytes,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unknown sender goes to the default customer, with its address in the new
    ticket's description: an address no ticket text may hold is unreadable (422, LMTP
    550), never a 503 that the gateway would retry forever."""
    customer_code = await db.fetchval("SELECT code FROM customers WHERE id = $1", world.customer_id)
    monkeypatch.setattr(mail_settings, "mail_in_default_customer", customer_code)
    raw = (from_header + b"To: support@supportline.local\r\nSubject: hello\r\n"
           b"Message-ID: " + make_msgid(domain="x.example").encode() + b"\r\n\r\nbody\r\n")  # fmt: skip
    before = await counts(db)
    r = await post(client, admin, raw)
    assert r.status_code in (202, 422), r.text
    if r.status_code == 422:
        assert r.headers["content-type"] == PROBLEM
        assert await counts(db) == before
    else:
        description = await db.fetchval("SELECT description FROM tickets")
        assert description and not any(0x7F <= ord(c) <= 0x9F for c in description)


def test_nested_html_cannot_blow_up_into_gigabytes_of_text() -> None:
    """Each line used to carry its whole quote depth's `> ` prefix: n nested blockquotes
    (12 bytes each) made n lines of up to 2n characters, 3,000 of them 9 million
    characters, 60,000 (720 KB of mail) seven billion. And nh3's own time grows with the
    square of the nesting of block elements."""
    from app.mail.inbound.parse import parse

    for tag, n in (("blockquote", 3000), ("blockquote", 60_000), ("div", 60_000)):
        html = f"<{tag}>" * n + "<p>还是不行</p>" + f"</{tag}>" * n
        mail = parse(message(html=html, html_only=True))
        assert "还是不行" in mail.full_text
        assert len(mail.full_text) < 10_000, (tag, n, len(mail.full_text))
    # Sanitised all the same when nh3 is left out: no script, no javascript: link.
    html = ("<div>" * 300 + "<p>你好</p><script>alert(1)</script><a href='javascript:x'>点这里</a>"
            "<a href='https://example.cn/a'>文档</a>" + "</div>" * 300)  # fmt: skip
    text = parse(message(html=html, html_only=True)).full_text
    assert "alert" not in text and "javascript" not in text, text
    assert "你好" in text and "<https://example.cn/a>" in text, text
    # A pasted image (a data: URI of megabytes) holds no text and hides none after it.
    html = "<p>截图如下</p><img src='data:image/png;base64," + "A" * 3_000_000 + "'><p>请看</p>"
    assert parse(message(html=html, html_only=True)).full_text.split() == ["截图如下", "请看"]


async def test_the_same_message_over_http_and_lmtp_at_once_is_taken_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("两条路同时到达", headers={"In-Reply-To": root(t["id"])})
    server = await lmtp.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        over_http, over_lmtp = await asyncio.gather(
            post(client, admin, raw), asyncio.to_thread(_lmtp_send, port, raw)
        )
    finally:
        server.close()
        await server.wait_closed()
    assert over_http.status_code in (200, 202), over_http.text
    assert [c for c, _ in over_lmtp] == [250], over_lmtp
    assert (over_http.status_code == 200) == ("received before" not in over_lmtp[0][1])
    bodies = await db.fetch("SELECT body FROM ticket_comments WHERE ticket_id = $1",
                            uuid.UUID(t["id"]))  # fmt: skip
    assert [b["body"] for b in bodies] == ["两条路同时到达"]
    assert await db.fetchval("SELECT count(*) FROM inbound_messages") == 1


# --- the sender: races ---------------------------------------------------------------------------


async def test_two_senders_at_once_send_each_message_once(
    mail_settings: Settings, sink: OddSink, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery() for _ in range(30)]
    sink.data_delay = 0.01
    results = await asyncio.gather(*(sender.send_pass(batch_size=7, sessions=2) for _ in range(3)))
    assert sum(r.sent for r in results) + sum(r.skipped for r in results) >= 0
    for _ in range(10):  # what was given back goes in the next passes
        if not (await sender.send_pass()).claimed:
            break
    for row in rows:
        assert sink.copies(row.message_id) == 1
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["attempts"], stored["resends"]) == ("sent", 1, 0)


async def test_a_retry_through_the_api_while_the_sender_holds_the_row_is_refused(
    mail_settings: Settings,
    sink: OddSink,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    row = await add_delivery()
    sink.data_delay = 0.5
    task = asyncio.ensure_future(sender.send_pass())
    await sink.wait_for(1, timeout=10)  # the body is in, the answer pending
    r = await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers=admin)
    assert problem(r, 409)["state"] == "sending"
    r = await client.post("/v1/mail/deliveries/retry-dead", json={}, headers=admin)
    assert r.status_code == 200 and r.json()["retried"] == 0, r.text
    assert (await task).sent == 1
    assert (await fetch(db, row.id))["state"] == "sent"
    assert sink.copies(row.message_id) == 1


async def test_a_bounce_arriving_while_the_delivery_is_sent_again_wins_and_nothing_resends(
    mail_settings: Settings,
    sink: OddSink,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    clock: Any,
    db: asyncpg.Connection,
) -> None:
    """The report names the delivery (an earlier copy went out and bounced) while the
    sender is sending it again: the delivery ends dead, the sender's record of the new
    copy does not revive it, and no later pass sends it a third time."""
    t = await create_ticket(client, admin, world)
    address = "nobody@example.cn"
    row = await add_delivery(ticket_id=uuid.UUID(t["id"]), ticket_number=t["number"],
                             address=address)  # fmt: skip
    sink.data_delay = 0.5
    task = asyncio.ensure_future(sender.send_pass())
    await sink.wait_for(1, timeout=10)
    assert (await fetch(db, row.id))["state"] == "sending"
    r = await post(client, admin, dsn(row.message_id, address))
    assert r.status_code == 202 and r.json()["delivery_id"] == str(row.id), r.text
    # Dead now, but its attempt is still in the sender's hands: a retry by hand would
    # let a second worker send it beside the first.
    r = await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers=admin)
    assert problem(r, 409)["state"] == "dead", r.text
    r = await client.post("/v1/mail/deliveries/retry-dead", json={}, headers=admin)
    assert r.json()["retried"] == 0, r.text
    await task
    stored = await fetch(db, row.id)
    assert stored["state"] == "dead" and "5.1.1" in stored["reason"]
    clock.set(clock.now() + timedelta(hours=2))  # past any lease
    assert (await sender.send_pass()).claimed == 0
    assert sink.copies(row.message_id) == 1
    assert [a["outcome"] for a in await history(db, row.id)] == ["sent"]


# --- the sender: what servers answer ---------------------------------------------------------------


async def test_a_421_mid_session_stops_the_session_and_loses_nothing(
    mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery(address=f"u{i}@example.cn") for i in range(4)]
    sink.reject["u1@example.cn"] = "421 4.7.0 Too many connections, closing"
    result = await sender.send_pass()
    assert result.sent == 1, result
    # A 421 is the server closing the session, whatever the step: the message is not
    # charged an attempt for it, and waits in the queue like the rest.
    stored = await fetch(db, rows[1].id)
    assert (stored["state"], stored["attempts"]) == ("queued", 0), stored
    # The rest of the batch was given back untouched, due at once.
    for row in rows[2:]:
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["attempts"]) == ("queued", 0)
    del sink.reject["u1@example.cn"]
    for _ in range(5):
        await sender.send_pass()
        clock.set(clock.now() + timedelta(minutes=5))
    for row in rows:
        assert sink.copies(row.message_id) == 1
        assert (await fetch(db, row.id))["state"] == "sent"


async def test_a_421_to_mail_from_gives_everything_back_uncounted(
    mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery() for _ in range(2)]
    sink.mail_replies = ["421 4.3.2 Service shutting down"]
    result = await sender.send_pass()
    assert (result.sent, result.released, result.blocked) == (0, 1, True), result
    first = await fetch(db, rows[0].id)
    assert first["state"] == "queued" and first["last_error"].startswith("mail: 421")
    assert (first["attempts"], first["resends"], first["sending_at"]) == (0, 0, None)
    [attempt] = await history(db, rows[0].id)
    assert (attempt["outcome"], attempt["code"]) == ("temporary", 421)
    clock.set(clock.now() + timedelta(minutes=5))
    await sender.send_pass()
    assert [sink.copies(r.message_id) for r in rows] == [1, 1]


@pytest.mark.parametrize(
    "refusal",
    ["530 5.7.0 Authentication required", "550 5.7.1 Sender address rejected: not owned",
     "451 4.3.0 Local error in processing"],
)  # fmt: skip
async def test_a_server_refusing_our_sender_dead_letters_nothing_and_spends_no_attempt(
    refusal: str, mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    """A refusal of MAIL FROM is about us and the server (credentials, our sender
    address), never about a recipient: a misconfigured relay must not dead-letter the
    whole queue one message after another. The mail waits, the server is left alone for
    a while, and once it accepts us again everything goes, once."""
    rows = [await add_delivery() for _ in range(3)]
    sink.mail_replies = [refusal] * 20
    result = await sender.send_pass()
    assert result.sent == 0 and result.blocked, result
    for row in rows:
        stored = await fetch(db, row.id)
        assert stored["state"] in ("queued", "retrying"), dict(stored)
        assert (stored["attempts"], stored["sending_at"]) == (0, None), dict(stored)
    # Left alone for a while: the next pass does not even connect.
    assert (await sender.send_pass()).blocked
    assert len(sink.mail_replies) == 19
    sink.mail_replies = []
    clock.set(clock.now() + timedelta(minutes=5))
    assert (await sender.send_pass()).sent == 3
    for row in rows:
        assert sink.copies(row.message_id) == 1
        assert (await fetch(db, row.id))["attempts"] == 1


async def test_a_552_to_mail_from_for_the_size_is_that_message_only(
    mail_settings: Settings, sink: OddSink, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery() for _ in range(2)]
    sink.mail_replies = ["552 5.3.4 Message size exceeds fixed maximum message size"]
    result = await sender.send_pass()
    assert (result.sent, result.failed) == (1, 1), result
    assert (await fetch(db, rows[0].id))["state"] == "dead"
    assert (await fetch(db, rows[1].id))["state"] == "sent"


async def test_a_552_on_data_dead_letters_that_message_and_is_no_bounce(
    mail_settings: Settings, sink: OddSink, db: asyncpg.Connection
) -> None:
    rows = [await add_delivery(address=f"v{i}@example.cn") for i in range(3)]
    sink.reject["v1@example.cn"] = "552 5.2.2 Mailbox full"
    result = await sender.send_pass()
    assert (result.sent, result.failed) == (2, 1)
    dead = await fetch(db, rows[1].id)
    assert dead["state"] == "dead" and "552" in dead["last_error"]
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0
    # 552 to the body (too large): that message dead, the session goes on.
    more = [await add_delivery() for _ in range(2)]
    sink.data_replies = ["552 5.3.4 Message size exceeds fixed limit"]
    result = await sender.send_pass()
    assert (result.sent, result.failed) == (1, 1), result
    assert (await fetch(db, more[0].id))["state"] == "dead"
    assert (await fetch(db, more[1].id))["state"] == "sent"


async def test_a_2xx_other_than_250_after_the_body_is_taken_and_never_sent_again(
    mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    """aiosmtplib raises for any answer to the body but 250; a 2xx is an acceptance all
    the same, and treating it as a failure would send the message again."""
    row = await add_delivery()
    sink.data_replies = ["252 2.0.0 Accepted, will try to deliver"]
    assert (await sender.send_pass()).sent == 1
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["attempts"]) == ("sent", 1)
    [attempt] = await history(db, row.id)
    assert (attempt["outcome"], attempt["code"]) == ("sent", 252)
    clock.set(clock.now() + timedelta(hours=2))
    assert (await sender.send_pass()).claimed == 0
    assert sink.accepted_count() == 0  # the sink's own recording was skipped by the reply


async def test_a_server_that_closes_after_rcpt_took_nothing_so_the_next_try_is_no_resend(
    mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    rows = [
        await add_delivery(address="w0@example.cn"),
        await add_delivery(address="w1@example.cn"),
    ]
    sink.close_after_rcpt.add("w0@example.cn")
    result = await sender.send_pass()
    assert result.failed == 1 and result.released == 1, result
    first = await fetch(db, rows[0].id)
    [attempt] = await history(db, rows[0].id)
    # DATA was never answered with 354: the body never left, so it is a plain retry.
    assert attempt["outcome"] == "temporary", dict(attempt)
    assert first["state"] == "retrying" and first["sending_at"] is None
    clock.set(clock.now() + timedelta(minutes=5))
    await sender.send_pass()
    again = await fetch(db, rows[0].id)
    assert (again["state"], again["attempts"], again["resends"]) == ("sent", 2, 0)
    assert [sink.copies(r.message_id) for r in rows] == [1, 1]


async def test_the_database_lost_right_after_acceptance_is_no_resend(
    mail_settings: Settings, sink: OddSink, clock: Any, db: asyncpg.Connection
) -> None:
    """The connection the sender records on dies while the server holds its answer:
    the record is made on a fresh connection, so nothing after acceptance sends it
    twice."""
    rows = [await add_delivery() for _ in range(2)]
    sink.data_delay = 0.3
    task = asyncio.ensure_future(sender.send_pass())
    await sink.wait_for(1, timeout=10)
    # The sender's connection: the one whose last statement marked the attempt.
    killed = await db.fetchval(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE '%WITH done AS%' ORDER BY query_start DESC LIMIT 1"
    )
    assert killed is True
    await task
    clock.set(clock.now() + timedelta(hours=1))
    for _ in range(3):
        await sender.send_pass()
    for row in rows:
        stored = await fetch(db, row.id)
        assert (stored["state"], stored["resends"]) == ("sent", 0), dict(stored)
        assert sink.copies(row.message_id) == 1


async def test_a_database_refusing_writes_for_seconds_after_acceptance_is_waited_out(
    mail_settings: Settings,
    sink: OddSink,
    clock: Any,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Longer than the first quick retries (a fail-over, the database read-only for a
    while): the record is tried again while the attempt's lease holds, and lands."""
    monkeypatch.setattr(sender, "RECORD_RETRIES", (0.1, 0.2))  # shorter, same shape
    monkeypatch.setattr(sender, "RECORD_PAUSE_MAX", 0.5)
    row = await add_delivery()
    await db.execute(
        """CREATE FUNCTION pg_temp.refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'read-only for now'; END $$;"""
    )
    sink.data_delay = 0.2
    task = asyncio.ensure_future(sender.send_pass())
    await sink.wait_for(1, timeout=10)
    await db.execute(
        "CREATE TRIGGER refuse_sent BEFORE UPDATE ON email_deliveries FOR EACH ROW "
        "WHEN (NEW.state = 'sent') EXECUTE FUNCTION pg_temp.refuse_sent()"
    )
    try:
        await asyncio.sleep(sum(sender.RECORD_RETRIES) + 1.0)
        assert not task.done()  # still trying
    finally:
        await db.execute("DROP TRIGGER refuse_sent ON email_deliveries")
    assert (await task).sent == 1
    stored = await fetch(db, row.id)
    assert (stored["state"], stored["resends"]) == ("sent", 0)
    clock.set(clock.now() + timedelta(hours=1))
    assert (await sender.send_pass()).claimed == 0
    assert sink.copies(row.message_id) == 1


# --- the sender: what a stored row may hold ---------------------------------------------------------


async def test_a_display_name_with_line_breaks_injects_no_header_and_breaks_no_session(
    mail_settings: Settings, sink: OddSink, db: asyncpg.Connection
) -> None:
    evil = await add_delivery(
        display_name="Evil\r\nBcc: victim@example.org", address="e@example.cn"
    )
    bare = await add_delivery(display_name="Evil\r\nX-Injected: 1", address="f@example.cn")
    ctl = await add_delivery(display_name="a\x01b\x1bc", address="g@example.cn")
    after = await add_delivery(address="h@example.cn")
    result = await sender.send_pass()
    assert result.sent == 4, result
    for row in (evil, bare, ctl, after):
        assert (await fetch(db, row.id))["state"] == "sent"
    for received in sink.received:
        head = received.data.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in head and b"\r\nX-Injected" not in head, head
        assert all(b >= 0x20 or b in (0x09, 0x0D, 0x0A) for b in head), head
        assert received.rcpt_tos == [received.message["To"].addresses[0].addr_spec]
    names = {r.rcpt_tos[0]: str(r.message["To"].addresses[0].display_name) for r in sink.received}
    assert names["e@example.cn"] == "Evil Bcc: victim@example.org"


@pytest.mark.parametrize(
    "address",
    [
        "no-at-sign.example.cn",
        "a" * 330 + "@example.cn",
        "two@at@example.cn",
        "sp ace@example.cn",
        "ctl\x01@example.cn",
        "nel\x85@example.cn",
        "lf\n@example.cn",
        "@example.cn",
        "local@",
    ],
)
async def test_an_address_smtp_cannot_carry_is_dead_and_the_others_go(
    address: str, mail_settings: Settings, sink: OddSink, db: asyncpg.Connection
) -> None:
    bad = await add_delivery(address=address[:320])
    good = await add_delivery(address="ok@example.cn")
    result = await sender.send_pass()
    assert result.sent == 1, result
    stored = await fetch(db, bad.id)
    assert stored["state"] == "dead", dict(stored)
    assert (await fetch(db, good.id))["state"] == "sent"
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.cn"]]
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0


# --- the suppression list --------------------------------------------------------------------------


async def test_a_released_address_starts_counting_again_from_nothing(
    mail_settings: Settings,
    sink: OddSink,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    db: asyncpg.Connection,
) -> None:
    """Released, an address must bounce the full count again before it is suppressed
    again: an admin who releases it says it works now."""
    t = await create_ticket(client, admin, world)
    address = "back@example.cn"
    sent = [await delivery(t, address) for _ in range(4)]
    for d in sent[:3]:
        assert (await post(client, admin, dsn(d.message_id, address))).status_code == 202
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert (row["hard_bounces"], row["suppressed"]) == (3, True)
    r = await client.post("/v1/mail/suppressions/release", json={"address": "Back@Example.CN"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["hard_bounces"] == 0, r.text
    r = await post(client, admin, dsn(sent[3].message_id, address))
    assert "hard bounce 1" in r.json()["reason"] and "suppressed" not in r.json()["reason"]
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert (row["hard_bounces"], row["suppressed"]) == (1, False)
    # A synchronous refusal counts the same way, and mail still goes to it meanwhile.
    sink.reject[address] = f"550 5.1.1 <{address}>: Recipient address rejected"
    await add_delivery(address=address)
    await sender.send_pass()
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert (row["hard_bounces"], row["suppressed"]) == (2, False)


# --- the API: hostile requests ---------------------------------------------------------------------

BAD_CURSORS = [
    "!!!",
    "é",
    cursor_of([]),
    cursor_of(["a", "b"]),
    cursor_of([1]),
    cursor_of({"a": 1}),
    cursor_of(["x\u0000y"]),
    cursor_of(["a" * 400]),
    cursor_of(["not-a-uuid"]),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "A" * 1999,
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize(
    "path",
    ["/v1/mail/deliveries", "/v1/mail/suppressions", "/v1/mail/inbound", "/v1/mail/rules",
     "/v1/mail/subscriptions"],
)  # fmt: skip
async def test_a_forged_cursor_is_a_400(
    path: str,
    cursor: str,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    mail_settings: Settings,
) -> None:
    r = await client.get(path, params={"cursor": cursor}, headers=admin)
    if path in ("/v1/mail/suppressions", "/v1/mail/rules") and cursor in (
        cursor_of(["not-a-uuid"]),
    ):
        assert r.status_code == 200, r.text  # a code or an address, not an id
        return
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"] == PROBLEM


async def test_another_branchs_deliveries_are_not_found_with_a_branch_key(
    mail_settings: Settings,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    row = await add_delivery(ticket_id=uuid.UUID(t["id"]), state="dead")
    other = await issue_key("admin", world.other_branch_id)
    problem(await client.get(f"/v1/mail/deliveries/{row.id}", headers=other), 404)
    problem(await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers=other), 404)
    r = await client.post("/v1/mail/deliveries/retry-dead", json={"ticket_id": t["id"]},
                          headers=other)  # fmt: skip
    assert r.json() == {"retried": 0, "suppressed": 0, "remaining": 0}, r.text
    r = await client.get("/v1/mail/deliveries/stats", headers=other)
    assert r.json()["dead"] == 0
    assert (await client.get("/v1/mail/deliveries", headers=other)).json()["items"] == []
    problem(await client.get("/v1/mail/suppressions", headers=other), 403)
    r = await client.post("/v1/mail/suppressions", json={"address": "a@example.cn", "reason": "x"},
                          headers=other)  # fmt: skip
    problem(r, 403)
    assert (await fetch(db, row.id))["state"] == "dead"
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0


async def test_idempotency_key_replays_a_retry_and_refuses_another_body(
    mail_settings: Settings,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    row = await add_delivery(state="dead", attempts=3)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    first = await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers={**admin, **key})
    assert first.status_code == 200, first.text
    again = await client.post(f"/v1/mail/deliveries/{row.id}/retry", headers={**admin, **key})
    assert again.status_code == 200 and again.json() == first.json(), again.text
    other = await add_delivery(state="dead")
    r = await client.post(f"/v1/mail/deliveries/{other.id}/retry", headers={**admin, **key})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert (await fetch(db, other.id))["state"] == "dead"
    bulk = {"Idempotency-Key": f"bulk-{uuid.uuid4()}"}
    r = await client.post("/v1/mail/deliveries/retry-dead", json={}, headers={**admin, **bulk})
    assert r.json()["retried"] == 1
    r = await client.post("/v1/mail/deliveries/retry-dead", json={"address": "x@example.cn"},
                          headers={**admin, **bulk})  # fmt: skip
    assert r.status_code == 422, r.text
    key2 = {"Idempotency-Key": "k" * 300}
    r = await client.post("/v1/mail/suppressions", json={"address": "a@example.cn", "reason": "x"},
                          headers={**admin, **key2})  # fmt: skip
    assert r.status_code in (201, 400, 422), r.text
    assert r.status_code < 500


RULE = "/v1/mail/rules/ticket.created"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("patch", RULE, {"json": {"roles": ["nobody"]}}, 422),
        ("patch", RULE, {"json": {"roles": "owner"}}, 422),
        ("patch", RULE, {"json": {"roles": ["owner", "owner"]}}, 422),
        ("patch", RULE, {"json": {"roles": ["owner"] * 7}}, 422),
        ("patch", RULE, {"json": {"urgent": "maybe"}}, 422),
        ("patch", RULE, {"json": {"urgent": None}}, 422),
        ("patch", RULE, {"json": {"enabled": 1.5}}, 422),
        ("patch", RULE, {"json": {"version": 9}}, 422),
        ("patch", RULE, {"json": {"roles": ["owner"]}, "headers": {"If-Match": "garbage"}}, 400),
        ("patch", RULE, {"json": {"roles": ["owner"]}, "headers": {"If-Match": 'W/"x.y"'}}, 400),
        ("patch", RULE, {"json": {"roles": ["owner"]}, "headers": {"If-Match": 'W/"99"'}}, 412),
        ("patch", "/v1/mail/rules/no.such", {"json": {"urgent": True}}, 404),
        ("patch", "/v1/mail/rules/" + "x" * 65, {"json": {"urgent": True}}, 422),
        ("get", "/v1/mail/rules/%00", {}, 404),
        ("put", "/v1/mail/subscriptions/role/nobody/ticket.created", {"json": {"subscribed": True}}, 422),
        ("put", "/v1/mail/subscriptions/team/owner/ticket.created", {"json": {"subscribed": True}}, 422),
        ("put", "/v1/mail/subscriptions/role/owner/no.such", {"json": {"subscribed": True}}, 404),
        ("put", "/v1/mail/subscriptions/role/owner/ticket.created", {"json": {"subscribed": "x"}}, 422),
        ("put", "/v1/mail/subscriptions/role/owner/ticket.created", {"json": {}}, 422),
        ("put", "/v1/mail/subscriptions/role/owner/ticket.created", {"json": [True]}, 422),
        ("put", "/v1/mail/subscriptions/engineer/not-a-uuid/ticket.created",
         {"json": {"subscribed": True}}, 422),
        ("put", f"/v1/mail/subscriptions/engineer/{uuid.uuid4()}/ticket.created",
         {"json": {"subscribed": True}}, 404),
        ("put", f"/v1/mail/subscriptions/customer/{uuid.uuid4()}/ticket.created",
         {"json": {"subscribed": True}}, 404),
        ("delete", "/v1/mail/subscriptions/role/owner/ticket.created", {}, 404),
        ("get", "/v1/mail/subscriptions", {"params": {"subject_kind": "team"}}, 422),
        ("get", "/v1/mail/subscriptions", {"params": {"subject": "x" * 65}}, 422),
        ("put", f"/v1/mail/profiles/customers/{uuid.uuid4()}", {"json": {"digest": "off"}}, 404),
        ("put", f"/v1/mail/profiles/engineers/{uuid.uuid4()}", {"json": {"digest": "off"}}, 404),
        ("get", "/v1/mail/profiles/engineers/not-a-uuid", {}, 422),
        ("put", f"/v1/mail/profiles/engineers/{uuid.uuid4()}", {"json": {"digest": "weekly"}}, 422),
        ("put", f"/v1/mail/profiles/engineers/{uuid.uuid4()}",
         {"json": {"emergency_group": "x"}}, 422),
        ("put", f"/v1/mail/profiles/customers/{uuid.uuid4()}", {"json": {"calendar_id": "x"}}, 422),
        ("put", f"/v1/mail/profiles/customers/{uuid.uuid4()}",
         {"json": {"emergency_group": True}}, 422),
        ("post", "/v1/mail/preview", {"json": {}}, 422),
        ("post", "/v1/mail/preview", {"json": {"outbox_id": str(uuid.uuid4())}}, 404),
        ("post", "/v1/mail/preview", {"json": {"event_type": "ticket.created",
                                                 "ticket_id": str(uuid.uuid4())}}, 422),
        ("post", "/v1/mail/preview", {"json": {"event_type": "no.such",
                                                 "ticket_id": str(uuid.uuid4())}}, 422),
        ("post", "/v1/mail/preview", {"json": {"event_type": "ticket.created",
                                                 "ticket_id": "T2026-000001"}}, 422),
        ("post", "/v1/mail/preview", {"json": {"event_type": "ticket.created",
                                                 "ticket_id": str(uuid.uuid4()),
                                                 "data": {"x": "y" * 30000}}}, 422),
        ("post", "/v1/mail/preview", {"json": {"event_type": "ticket.created",
                                                 "ticket_id": str(uuid.uuid4()),
                                                 "data": {"x": "a\u0000b"}}}, 422),
        ("post", "/v1/mail/preview", {"json": {"event_type": "ticket.created",
                                                 "ticket_id": str(uuid.uuid4()),
                                                 "data": ["x"]}}, 422),
        ("get", "/v1/mail/inbound", {"params": {"outcome": "eaten"}}, 422),
        ("get", "/v1/mail/inbound", {"params": {"source": "fax"}}, 422),
        ("get", "/v1/mail/inbound", {"params": {"ticket_id": "x"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"limit": "0"}}, 422),
        ("get", "/v1/mail/deliveries", {"params": {"limit": "-1"}}, 422),
        ("get", "/v1/mail/suppressions", {"params": {"address": "张@例子.中国" + "x" * 320}}, 422),
        ("post", "/v1/mail/suppressions", {"json": {"address": "a@b@example.cn", "reason": "x"}}, 422),
        ("post", "/v1/mail/suppressions", {"json": {"address": "a@example.cn\r\nBcc: b@example.cn",
                                                     "reason": "x"}}, 422),
        ("post", "/v1/mail/suppressions", {"json": {"address": "a@example.cn", "reason": "x\u0000"}}, 422),
    ],
)  # fmt: skip
async def test_hostile_requests_are_4xx_problems_and_write_nothing(
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    before = await counts(db)
    version = await db.fetchval(
        "SELECT version FROM notification_rules WHERE event_type = 'ticket.created'"
    )
    headers = {**admin, **kwargs.pop("headers", {})}
    r = await getattr(client, method)(path, headers=headers, **kwargs)
    problem(r, status)
    assert await counts(db) == before
    assert version == await db.fetchval(
        "SELECT version FROM notification_rules WHERE event_type = 'ticket.created'"
    )


PREVIEW_DATA = [
    {"waiting_on": {"a": 1}},
    {"waiting_on": ["customer"]},
    {"waiting_on": None},
    {"note": {"nested": [1, 2, {"x": None}]}},
    {"note": 12345678901234567890},
    {"note": 1.5e308},
    {"note": True},
    {"comment": {"body": ["not", "text"]}},
    {"body": "<script>alert(1)</script>{{ 7*7 }}{% raw %}"},
    {"recipients": ["role:admin", 5, None, {"x": 1}, "group:emergency", str(uuid.uuid4())]},
    {"recipients": "role:admin"},
    {"clock_id": ["x"], "level": {"a": 1}, "after": []},
    {"clock_id": "c" * 300, "level": 10**30, "after": "x"},
    {"to_id": "not-a-uuid", "from_id": 3},
    {"state": {"x": 1}},
    {"reason": "x" * 15000},
    {"contact_id": 5},
    {"contact_id": "not-a-uuid"},
    {"before": "x", "after": 5},
]
PREVIEW_TYPES = [
    "ticket.created",
    "ticket.waiting_customer",
    "ticket.comment_added",
    "ticket.escalation_notice",
    "sla.warning",
    "ticket.assigned",
    "ticket.handoff_started",
    "ticket.resolved",
    "part_request.awaiting_approval",
    "rma.changed",
]


@pytest.mark.parametrize("event_type", PREVIEW_TYPES)
async def test_a_preview_with_hostile_sample_data_is_never_a_server_error(
    event_type: str,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    before = await counts(db)
    failures = []
    for data in PREVIEW_DATA:
        r = await client.post("/v1/mail/preview", json={"event_type": event_type,
                                                         "ticket_id": t["id"], "data": data},
                              headers=admin)  # fmt: skip
        if r.status_code >= 500 or (r.status_code >= 400 and r.headers["content-type"] != PROBLEM):
            failures.append((data, r.status_code, r.text[:300]))
    assert failures == []
    assert await counts(db) == before


async def test_a_branch_keys_preview_and_subscriptions_stay_in_its_branch(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    other = await issue_key("admin", world.other_branch_id)
    r = await client.post("/v1/mail/preview", json={"event_type": "ticket.created",
                                                     "ticket_id": t["id"]}, headers=other)  # fmt: skip
    problem(r, 422, "ticket_id")
    outbox_id = await db.fetchval("SELECT id FROM outbox WHERE aggregate_id = $1 LIMIT 1",
                                  uuid.UUID(t["id"]))  # fmt: skip
    problem(await client.post("/v1/mail/preview", json={"outbox_id": str(outbox_id)},
                              headers=other), 404)  # fmt: skip
    before = await counts(db)
    path = f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created"
    problem(await client.put(path, json={"subscribed": False}, headers=other), 404)
    problem(await client.delete(path, headers=other), 404)
    problem(
        await client.get(f"/v1/mail/profiles/customers/{world.customer_id}", headers=other), 404
    )
    r = await client.put(f"/v1/mail/profiles/customers/{world.customer_id}",
                         json={"digest": "daily"}, headers=other)  # fmt: skip
    problem(r, 404)
    problem(await client.put("/v1/mail/subscriptions/role/owner/ticket.created",
                             json={"subscribed": False}, headers=other), 403)  # fmt: skip
    problem(await client.patch(RULE, json={"urgent": True}, headers=other), 403)
    assert await counts(db) == before


async def test_a_branch_keys_preview_cannot_name_another_branchs_engineers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
) -> None:
    """A preview shows each recipient's name and address: a sample naming an engineer of
    another branch (an escalation's recipients, a handoff's target) would read them."""
    mine = await make_engineer(client, admin, world.branch_id, email="ours@example.cn")
    theirs = await make_engineer(client, admin, world.other_branch_id, email="theirs@example.cn")
    t = await create_ticket(client, admin, world)
    key = await issue_key("admin", world.branch_id)
    for event_type, data in (
        ("ticket.escalation_notice", {"recipients": [theirs["id"]], "level": 1}),
        ("ticket.handoff_started", {"to_id": theirs["id"]}),
    ):
        r = await client.post("/v1/mail/preview", json={"event_type": event_type, "ticket_id": t["id"],
                                                         "data": data}, headers=key)  # fmt: skip
        assert "theirs@example.cn" not in r.text
        problem(r, 422, "data")
        # The centre's keys see every branch.
        r = await client.post("/v1/mail/preview", json={"event_type": event_type, "ticket_id": t["id"],
                                                         "data": data}, headers=admin)  # fmt: skip
        assert r.status_code == 200, r.text
    data = {"recipients": [mine["id"], "role:admin"], "level": 1}
    r = await client.post("/v1/mail/preview", json={"event_type": "ticket.escalation_notice",
                                                     "ticket_id": t["id"], "data": data},
                          headers=key)  # fmt: skip
    assert r.status_code == 200, r.text


async def test_two_first_profile_writes_at_once_are_one_profile_and_no_server_error(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    path = f"/v1/mail/profiles/customers/{world.customer_id}"
    bodies = [{"digest": "daily"}, {"digest": "hourly"}, {"digest": "off"}]
    answers = await asyncio.gather(
        *(client.put(path, json=b, headers={**admin, "If-Match": 'W/"0.default"'}) for b in bodies)
    )
    codes = sorted(r.status_code for r in answers)
    assert codes[0] == 200 and all(c in (200, 409, 412) for c in codes), [r.text for r in answers]
    assert codes.count(200) == 1, [r.text for r in answers]
    assert await db.fetchval("SELECT count(*) FROM notification_profiles") == 1
    answers = await asyncio.gather(
        *(client.put(f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created",
                     json={"subscribed": i % 2 == 0}, headers=admin) for i in range(4))
    )  # fmt: skip
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert await db.fetchval("SELECT count(*) FROM notification_subscriptions") == 1
