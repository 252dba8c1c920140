"""Mail in over HTTP (issue 12, item 5): raw RFC 5322 messages, built with the `email`
package, posted as a mail gateway would; what they become on the tickets, the
deliveries and the suppression list, read back through the API and the database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import asyncpg
import httpx
import pytest

from app.access.defaults import MAIL_ID, ensure_identities
from app.core.config import Settings, get_settings
from app.core.db import open_uow
from app.mail import ids
from app.mail.models import EmailDelivery
from tests.api.conftest import PROBLEM, create_ticket, problem, ticket_events
from tests.conftest import issue_key
from tests.factories import World

CONTACT = "王伟 <wang@example.cn>"  # the world's contact
RAW = {"Content-Type": "message/rfc822"}


@pytest.fixture
async def mail_settings(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Settings]:
    """The process settings, mail in's own changed per test and put back after; and the
    mail identity that authors what arrives (a session's first test runs on the bare
    migrated database, before any clean-up has ensured the defaults)."""
    async with open_uow() as uow:
        await ensure_identities(uow)
    s = get_settings()
    monkeypatch.setattr(s, "mail_in_default_customer", None)
    yield s


def message(
    body: str = "还是不行，设备仍然告警。",
    *,
    sender: str = CONTACT,
    subject: str = "设备告警",
    headers: dict[str, str] | None = None,
    html: str | None = None,
    html_only: bool = False,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    message_id: str | None = None,
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "技术支持中心 <support@supportline.local>"
    m["Subject"] = subject
    m["Date"] = formatdate(localtime=True)
    m["Message-ID"] = message_id or make_msgid(domain="mail.example.cn")
    for name, value in (headers or {}).items():
        m[name] = value
    if html_only:
        m.set_content(html or "", subtype="html")
    else:
        m.set_content(body)
        if html is not None:
            m.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes(policy=policy.SMTP)


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], raw: bytes, **extra: str
) -> httpx.Response:
    return await client.post("/v1/mail/inbound", content=raw, headers={**headers, **RAW, **extra})


def root(ticket_id: str) -> str:
    return ids.ticket_root_id(uuid.UUID(ticket_id), get_settings().mail_domain)


async def comments(client: httpx.AsyncClient, admin: dict[str, str], tid: str) -> list[Any]:
    r = await client.get(f"/v1/tickets/{tid}/comments", headers=admin)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def counts(db: asyncpg.Connection) -> dict[str, int]:
    tables = ("inbound_messages", "tickets", "ticket_comments", "ticket_events", "outbox",
              "attachments", "email_deliveries", "mail_suppressions")  # fmt: skip
    return {t: int(await db.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}


async def delivery(ticket: dict[str, Any], address: str, state: str = "sent") -> EmailDelivery:
    """A delivery of ours, as the outbound side writes it (its deterministic id)."""
    outbox_id = uuid.uuid4()
    row = EmailDelivery(
        outbox_id=outbox_id,
        event_type="ticket.resolved",
        ticket_id=uuid.UUID(ticket["id"]),
        ticket_number=ticket["number"],
        role="reporter",
        recipient_kind="address",
        address=address,
        state=state,
        message_id=ids.delivery_message_id(outbox_id, address, get_settings().mail_domain),
        subject=f"[{ticket['number']}] 已解决",
    )
    async with open_uow() as uow:
        uow.session.add(row)
    return row


async def resolved(
    client: httpx.AsyncClient, world: World, agent: dict[str, str]
) -> dict[str, Any]:
    engineer = await issue_key("engineer", world.branch_id)
    t = await create_ticket(client, agent, world)
    for name, body in (("acknowledge", {}), ("start", {}),
                       ("resolve", {"resolution_summary": "更换电源模块后业务恢复"})):  # fmt: skip
        r = await client.post(f"/v1/tickets/{t['id']}/{name}", json=body, headers=engineer)
        assert r.status_code == 200, r.text
    return dict(r.json())


# --- Replies ----------------------------------------------------------------------------


async def test_a_reply_threaded_by_its_headers_is_the_contacts_public_comment(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message(
        "重启后还是告警。\n\nOn Tue, Dec 1, 2026 at 10:20 AM Support <support@supportline.local> wrote:\n> 请重启设备\n",
        subject="Re: something the client rewrote",
        headers={"In-Reply-To": root(t["id"]), "References": root(t["id"])},
    )
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["outcome"] == "comment" and out["ticket_id"] == t["id"]
    assert out["ticket_number"] == t["number"] and out["duplicate"] is False
    assert out["from_address"] == "wang@example.cn" and out["source"] == "http"
    [comment] = await comments(client, admin, t["id"])
    assert comment["body"] == "重启后还是告警。"  # the quoted history cut
    assert comment["visibility"] == "public" and comment["author_id"] == str(MAIL_ID)
    events = await ticket_events(client, admin, t["id"])
    [added] = [e for e in events if e["type"] == "ticket.comment_added"]
    assert added["channel"] == "email"
    [mail] = [e for e in events if e["type"] == "ticket.email_received"]
    assert mail["data"]["contact_id"] == str(world.contact_id)
    assert mail["data"]["matched_by"] == "headers" and mail["data"]["inbound_id"] == out["id"]


async def test_a_reply_naming_only_one_of_our_deliveries_is_threaded(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    sent = await delivery(t, "wang@example.cn")
    r = await post(client, admin, message("收到", headers={"In-Reply-To": sent.message_id}))
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "comment" and r.json()["ticket_id"] == t["id"]


async def test_a_reply_is_threaded_by_the_number_in_its_subject(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("日志见附件。", subject=f"回复：[{t['number']}] 核心交换机电源模块告警")
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "comment" and r.json()["reason"] == f"subject {t['number']}"
    assert [c["body"] for c in await comments(client, admin, t["id"])] == ["日志见附件。"]


async def test_a_subject_number_alone_does_not_let_a_stranger_write_on_a_ticket(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("我也要评论", sender="x@other.example", subject=f"Re: [{t['number']}] hi")
    r = await post(client, admin, raw)
    body = problem(r, 422)
    assert body["refusal"] == "unknown_sender"
    assert await comments(client, admin, t["id"]) == []
    # With a default customer it opens a ticket of its own, without the old tag.
    other = await db.fetchval("SELECT code FROM customers WHERE id = $1", world.other_customer_id)
    mail_settings.mail_in_default_customer = other
    raw = message("我也要评论", sender="x@other.example", subject=f"Re: [{t['number']}] hi")
    r = await post(client, admin, raw)
    assert r.status_code == 202 and r.json()["outcome"] == "ticket", r.text
    new = (await client.get(f"/v1/tickets/{r.json()['ticket_id']}", headers=admin)).json()
    assert new["subject"] == "hi" and new["customer_id"] == str(world.other_customer_id)
    # And what that sender writes next under the new ticket's number is his.
    r = await post(client, admin, message("补充", sender="x@other.example",
                                            subject=f"Re: [{new['number']}] hi"))  # fmt: skip
    assert r.json()["outcome"] == "comment" and r.json()["ticket_id"] == new["id"], r.text


async def test_the_same_message_id_twice_is_taken_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("只应出现一次", headers={"In-Reply-To": root(t["id"])})
    first = await post(client, admin, raw)
    again = await post(client, admin, raw)
    assert (first.status_code, again.status_code) == (202, 200), again.text
    assert again.json() == {**first.json(), "duplicate": True}
    assert len(await comments(client, admin, t["id"])) == 1
    r = await client.get("/v1/mail/inbound", headers=admin)
    assert [m["id"] for m in r.json()["items"]] == [first.json()["id"]]


async def test_a_reply_to_a_resolved_ticket_reopens_it(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await resolved(client, world, admin)
    silence = "SELECT state FROM timers WHERE kind = 'callbacks.silence_close' AND subject_id = $1"
    assert await db.fetchval(silence, uuid.UUID(t["id"])) == "pending"
    raw = message("问题又出现了", subject=f"Re: [{t['number']}] 已解决")
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "reopened"
    now = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert now["status"] == "in_progress" and now["reopen_count"] == 1
    events = await ticket_events(client, admin, t["id"])
    [reopened] = [e for e in events if e["type"] == "ticket.reopened"]
    assert reopened["channel"] == "email" and reopened["actor_id"] == str(MAIL_ID)
    assert reopened["data"]["reason"]
    assert [c["body"] for c in await comments(client, admin, t["id"])] == ["问题又出现了"]
    # The reply beat the close on silence: its timer is cancelled (callbacks' subscriber).
    assert await db.fetchval(silence, uuid.UUID(t["id"])) == "cancelled"


async def test_a_reply_to_a_ticket_waiting_on_the_customer_resumes_it(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    engineer = await issue_key("engineer", world.branch_id)
    t = await create_ticket(client, admin, world)
    for name, body in (("acknowledge", {}), ("start", {}), ("wait", {"on": "customer"})):
        r = await client.post(f"/v1/tickets/{t['id']}/{name}", json=body, headers=engineer)
        assert r.status_code == 200, r.text
    r = await post(client, admin, message("日志如下", headers={"In-Reply-To": root(t["id"])}))
    assert r.json()["outcome"] == "comment" and "resumed" in r.json()["reason"], r.text
    now = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert now["status"] == "in_progress"


async def test_a_reply_too_late_to_reopen_opens_a_follow_up_ticket(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    clock: Any,
) -> None:
    t = await resolved(client, world, admin)
    r = await client.post(f"/v1/tickets/{t['id']}/confirm", json={}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    # Within the reopen window a reply reopens the closed ticket ...
    r = await post(client, admin, message("又坏了", headers={"In-Reply-To": root(t["id"])}))
    assert r.json()["outcome"] == "reopened" and "from closed" in r.json()["reason"], r.text
    for name, body in (("resolve", {"resolution_summary": "再次更换"}), ("confirm", {})):
        r = await client.post(f"/v1/tickets/{t['id']}/{name}", json=body, headers=admin)
        assert r.status_code == 200, r.text
    # ... after it, the reply is a ticket of its own that names the old one.
    clock.set(clock.now() + timedelta(days=mail_settings.reopen_window_days, hours=1))
    r = await post(
        client, admin, message("三个月后又出现了", headers={"In-Reply-To": root(t["id"])})
    )
    out = r.json()
    assert out["outcome"] == "ticket" and out["reason"] == f"follow-up to {t['number']}", r.text
    new = (await client.get(f"/v1/tickets/{out['ticket_id']}", headers=admin)).json()
    assert new["description"] == f"关联工单 / Follow-up to {t['number']}\n\n三个月后又出现了"
    old = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert old["status"] == "closed"


async def test_a_key_of_one_branch_reaches_no_ticket_of_another(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    gateway = await issue_key("integration", world.other_branch_id)
    raw = message("跨分公司", headers={"In-Reply-To": root(t["id"])})
    body = problem(await post(client, gateway, raw), 422)
    assert body["refusal"] == "out_of_scope"
    assert await comments(client, admin, t["id"]) == []
    assert await db.fetchval("SELECT count(*) FROM tickets") == 1


async def test_two_deliveries_of_one_message_at_once_are_taken_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("同时到达两次", headers={"In-Reply-To": root(t["id"])})
    a, b = await asyncio.gather(post(client, admin, raw), post(client, admin, raw))
    assert sorted([a.status_code, b.status_code]) == [200, 202], (a.text, b.text)
    assert len(await comments(client, admin, t["id"])) == 1


# --- New tickets and strangers ----------------------------------------------------------


async def test_a_known_contact_opens_a_ticket_by_mail(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    raw = message(
        "核心交换机无法登录，报错 AAA timeout。", subject="回复：交换机无法登录",
        attachments=(("截图.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),),
    )  # fmt: skip
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["outcome"] == "ticket" and out["ticket_number"].startswith("T")
    t = (await client.get(f"/v1/tickets/{out['ticket_id']}", headers=admin)).json()
    assert t["subject"] == "交换机无法登录"  # the reply prefix off
    assert t["description"] == "核心交换机无法登录，报错 AAA timeout。"
    assert (t["channel"], t["priority"], t["category"], t["service_type"]) == (
        "email", "P3", "consultation", "remote")  # fmt: skip
    assert t["customer_id"] == str(world.customer_id)
    assert t["contact_id"] == str(world.contact_id) and t["created_by"] == str(MAIL_ID)
    files = (await client.get(f"/v1/tickets/{t['id']}/attachments", headers=admin)).json()
    assert [(f["filename"], f["content_type"]) for f in files] == [("截图.png", "image/png")]


async def test_an_unknown_sender_is_refused_or_goes_to_the_default_customer(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    raw = message("你好，我们的设备坏了", sender="张三 <zhang@unknown.example>")
    r = await post(client, admin, raw)
    body = problem(r, 422)
    assert body["type"].endswith("/mail-refused") and body["refusal"] == "unknown_sender"
    assert body["duplicate"] is False and body["errors"]
    # Recorded: the same message again answers the same, and the admin list shows it.
    again = problem(await post(client, admin, raw), 422)
    assert again["duplicate"] is True and again["inbound_id"] == body["inbound_id"]
    listed = (await client.get("/v1/mail/inbound?outcome=refused", headers=admin)).json()
    assert [m["id"] for m in listed["items"]] == [body["inbound_id"]]
    assert await db.fetchval("SELECT count(*) FROM tickets") == 0

    code = await db.fetchval("SELECT code FROM customers WHERE id = $1", world.other_customer_id)
    mail_settings.mail_in_default_customer = code
    raw = message("你好，我们的设备坏了", sender="张三 <zhang@unknown.example>")
    r = await post(client, admin, raw)
    assert r.status_code == 202 and r.json()["outcome"] == "ticket", r.text
    t = (await client.get(f"/v1/tickets/{r.json()['ticket_id']}", headers=admin)).json()
    assert t["customer_id"] == str(world.other_customer_id) and t["contact_id"] is None
    assert t["description"].startswith("发件人 / From: 张三 <zhang@unknown.example>\n\n")


async def test_a_default_customer_that_does_not_exist_defers_the_message(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    mail_settings.mail_in_default_customer = "NO-SUCH-CUSTOMER"
    before = await counts(db)
    r = await post(client, admin, message(sender="zhang@unknown.example"))
    problem(r, 503)
    assert r.headers["Retry-After"]
    assert await counts(db) == before  # nothing kept: the gateway sends it again


# --- Loops: automatic mail, our own domain, bounces -------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Auto-Response-Suppress": "All"},
    ],
)
async def test_automatic_mail_is_recorded_and_never_answered(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
    headers: dict[str, str],
) -> None:
    t = await create_ticket(client, admin, world)
    before = await counts(db)
    raw = message("我正在休假，12月5日返回。", subject=f"自动回复：[{t['number']}] 已受理",
                  headers={"In-Reply-To": root(t["id"]), **headers})  # fmt: skip
    r = await post(client, admin, raw)
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "auto_reply" and r.json()["ticket_id"] == t["id"]
    # Only its row: no comment, no event, no outbox row (so no notice), no delivery.
    assert await counts(db) == {**before, "inbound_messages": before["inbound_messages"] + 1}
    # An automatic message from a stranger opens nothing either, default customer or not.
    mail_settings.mail_in_default_customer = "ANY"
    r = await post(
        client, admin, message("newsletter", sender="news@shop.example", headers=headers)
    )
    assert r.json()["outcome"] == "auto_reply", r.text


async def test_mail_from_our_own_domain_is_refused_as_a_loop(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    raw = message("loop", sender="support@supportline.local",
                  headers={"In-Reply-To": root(t["id"])})  # fmt: skip
    body = problem(await post(client, admin, raw), 409)
    assert body["type"].endswith("/mail-loop") and body["refusal"] == "own_domain"
    # One of our own messages coming back, whoever it claims to be from.
    sent = await delivery(t, "wang@example.cn")
    raw = message("x", message_id=sent.message_id, headers={"In-Reply-To": root(t["id"])})
    assert problem(await post(client, admin, raw), 409)["refusal"] == "own_message"
    assert await comments(client, admin, t["id"]) == []


def dsn(
    original_id: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    message_id: str | None = None,
) -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464)."""
    return (
        "From: MAILER-DAEMON@mx.example.cn (Mail Delivery System)\r\n"
        "To: support@supportline.local\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"Message-ID: {message_id or make_msgid(domain='mx.example.cn')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.cn\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:\r\n"
        "    User unknown in virtual mailbox table\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@supportline.local\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n"
        "\r\n--B--\r\n"
    ).encode()


async def test_a_bounce_kills_its_delivery_and_counts_toward_suppression(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    address = "nobody@example.cn"
    sent = [await delivery(t, address) for _ in range(mail_settings.mail_suppress_after_bounces)]
    r = await post(client, admin, dsn(sent[0].message_id, address))
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["outcome"] == "bounce" and out["delivery_id"] == str(sent[0].id)
    assert out["ticket_id"] == t["id"] and "hard bounce 1" in out["reason"]
    state, reason = await db.fetchrow(
        "SELECT state, reason FROM email_deliveries WHERE id = $1", sent[0].id
    )
    assert state == "dead" and "5.1.1" in reason
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert (row["hard_bounces"], row["suppressed"]) == (1, False)
    assert await comments(client, admin, t["id"]) == []  # never a comment
    [event] = [e for e in await ticket_events(client, admin, t["id"])
               if e["type"] == "ticket.email_bounced"]  # fmt: skip
    assert event["data"]["address"] == address and event["data"]["hard"] is True
    # The same report again changes nothing, nor does another one about the same mail
    # (it is dead already); the next deliveries' reports suppress.
    report = dsn(sent[0].message_id, address)
    assert (await post(client, admin, report)).status_code == 202
    assert (await post(client, admin, report)).status_code == 200
    assert (
        "left as it was"
        in (await post(client, admin, dsn(sent[0].message_id, address))).json()["reason"]
    )
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert row["hard_bounces"] == 1
    for d in sent[1:]:
        r = await post(client, admin, dsn(d.message_id, address))
        assert r.status_code == 202, r.text
    row = await db.fetchrow("SELECT * FROM mail_suppressions WHERE address = $1", address)
    assert row["hard_bounces"] == len(sent) and row["suppressed"] is True
    assert "suppressed" in r.json()["reason"]


async def test_bounces_that_are_not_about_our_deliveries_change_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    sent = await delivery(t, "wang@example.cn")
    # A delay warning, a soft failure, and a report on mail we never sent (backscatter).
    delayed = dsn(sent.message_id, "wang@example.cn", action="delayed", status="4.4.1")
    r = await post(client, admin, delayed)
    assert r.json()["outcome"] == "bounce" and "nothing to do" in r.json()["reason"], r.text
    forged = dsn("<whatever@spam.example>", "wang@example.cn")
    assert "nothing done" in (await post(client, admin, forged)).json()["reason"]
    assert await db.fetchval("SELECT state FROM email_deliveries WHERE id = $1", sent.id) == "sent"
    soft = dsn(sent.message_id, "wang@example.cn", status="4.2.2")
    assert (await post(client, admin, soft)).json()["outcome"] == "bounce"
    assert await db.fetchval("SELECT state FROM email_deliveries WHERE id = $1", sent.id) == "dead"
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0  # soft: not counted


# --- Bodies: HTML, quoted history, charsets, attachments --------------------------------


async def test_html_is_sanitised_into_text(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    html = ("<html><head><style>p{color:red}</style></head><body><p>设备<b>仍然</b>告警&nbsp;"
            "&lt;PSU1&gt;</p><script>alert('x')</script><img src=x onerror=alert(1)>"
            '<p><a href="javascript:alert(2)">点这里</a> <a href="https://example.cn/log">日志</a>'
            "</p></body></html>")  # fmt: skip
    raw = message(html=html, html_only=True, headers={"In-Reply-To": root(t["id"])})
    assert (await post(client, admin, raw)).status_code == 202
    [comment] = await comments(client, admin, t["id"])
    assert comment["body"] == "设备仍然告警 <PSU1>\n\n点这里 日志 <https://example.cn/log>"
    assert "alert" not in comment["body"] and "script" not in comment["body"]


async def test_quoted_history_in_html_is_cut(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    html = ("<div>好的，收到。</div><div><br></div><div>------------------&nbsp;原始邮件&nbsp;"
            "------------------</div><div><b>发件人:</b> 技术支持中心</div><div><b>发送时间:</b> "
            "2026年12月1日</div><div>您好</div><blockquote>旧的引用</blockquote>")  # fmt: skip
    raw = message(html=html, html_only=True, headers={"In-Reply-To": root(t["id"])})
    assert (await post(client, admin, raw)).status_code == 202
    assert [c["body"] for c in await comments(client, admin, t["id"])] == ["好的，收到。"]


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (
            "好的，已经恢复正常。\n\n在 2026年12月1日 10:20，技术支持中心 "
            "<support@supportline.local> 写道：\n> 您好，请确认问题是否解决。\n",
            "好的，已经恢复正常。",
        ),
        (
            "还是不行。\n  show power 输出：PSU1 failed\n\n-----原始邮件-----\n"
            "发件人: 技术支持中心 <support@supportline.local>\n发送时间: 2026年12月1日 10:20\n"
            "收件人: 王伟 <wang@example.cn>\n主题: [T2026-000123] 已解决\n\n您好，问题已解决。\n",
            "还是不行。\n  show power 输出：PSU1 failed",
        ),
        (
            "收到，谢谢\n\n发件人：技术支持中心 <support@supportline.local>\n"
            "发送时间：2026年12月1日 10:20\n收件人：王伟\n主题：已解决\n\n您好。\n",
            "收到，谢谢",
        ),
    ],
    ids=["qq-wrote", "outlook-original", "outlook-full-width"],
)
async def test_quoted_chinese_history_is_cut(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    body: str,
    kept: str,
) -> None:
    t = await create_ticket(client, admin, world)
    r = await post(client, admin, message(body, headers={"In-Reply-To": root(t["id"])}))
    assert r.status_code == 202, r.text
    assert [c["body"] for c in await comments(client, admin, t["id"])] == [kept]


async def test_chinese_charsets_and_raw_8bit_headers_are_read(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    # GBK text labelled gb2312 (as many Chinese clients do), a raw GBK subject.
    text = "设备告警，镕铖".encode("gbk")
    raw = (
        b"From: wang@example.cn\r\nTo: support@supportline.local\r\n"
        b"Subject: " + f"回复：[{t['number']}] 告警".encode("gbk") + b"\r\n"
        b"Message-ID: <gbk-1@mail.example.cn>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text + b"\r\n"
    )  # fmt: skip
    r = await post(client, admin, raw)
    assert r.status_code == 202 and r.json()["outcome"] == "comment", r.text
    assert r.json()["subject"] == f"回复：[{t['number']}] 告警"
    assert [c["body"] for c in await comments(client, admin, t["id"])] == ["设备告警，镕铖"]


async def test_attachments_are_kept_within_the_ticket_limits(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mail_settings, "attachment_max_bytes", 1000)
    t = await create_ticket(client, admin, world)
    raw = message("日志和截图见附件", headers={"In-Reply-To": root(t["id"])}, attachments=(
        ("switch.log", "application/octet-stream", b"PSU1 failure\n"),
        ("setup.exe", "application/x-msdownload", b"MZ..."),
        ("big.zip", "application/zip", b"x" * 1001),
    ))  # fmt: skip
    assert (await post(client, admin, raw)).status_code == 202
    files = (await client.get(f"/v1/tickets/{t['id']}/attachments", headers=admin)).json()
    # The log's type comes from its name when the client said octet-stream.
    assert [(f["filename"], f["content_type"]) for f in files] == [("switch.log", "text/plain")]
    [comment] = await comments(client, admin, t["id"])
    assert comment["body"].startswith("日志和截图见附件\n\n未保存的附件 / Attachments not kept:")
    assert "setup.exe" in comment["body"] and "big.zip" in comment["body"]


async def test_a_long_reply_is_cut_to_a_comment_and_kept_whole_as_a_file(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    log = "\n".join(
        f"Dec  1 10:{i % 60:02d} PSU{i % 2 + 1} voltage out of range" for i in range(900)
    )
    r = await post(client, admin, message(log, headers={"In-Reply-To": root(t["id"])}))
    assert r.status_code == 202, r.text
    [comment] = await comments(client, admin, t["id"])
    assert len(comment["body"]) <= 20_000 and comment["body"].endswith("full text attached]")
    files = (await client.get(f"/v1/tickets/{t['id']}/attachments", headers=admin)).json()
    assert [f["filename"] for f in files] == ["message.txt"]
    content = await client.get(
        f"/v1/tickets/{t['id']}/attachments/{files[0]['id']}/content", headers=admin
    )
    assert content.text == log


# --- Hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"From: wang@example.cn\r\nSubject: x\r\n\r\nbody\x00with NUL\r\n", 422),
        (bytes(range(256)) * 8, 422),
        (b"", 422),
        (b"Subject: no sender\r\n\r\nhello\r\n", 422),
        (b"From: not an address\r\n\r\nhello\r\n", 422),
    ],
    ids=["nul", "garbage", "empty", "no-from", "bad-from"],
)
async def test_what_is_no_message_is_a_4xx_and_writes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
    raw: bytes,
    status: int,
) -> None:
    before = await counts(db)
    r = await post(client, admin, raw)
    body = problem(r, status)
    assert body["type"].endswith("/mail-unreadable") and body["errors"]
    assert await counts(db) == before


async def test_hostile_requests_are_refused_before_anything_is_read(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = await counts(db)
    raw = message()
    assert (await client.post("/v1/mail/inbound", content=raw, headers=RAW)).status_code == 401
    engineer = await issue_key("engineer", world.branch_id)
    assert (await post(client, engineer, raw)).status_code == 403
    r = await client.post("/v1/mail/inbound", content=raw,
                          headers={**admin, "Content-Type": "application/json"})  # fmt: skip
    assert problem(r, 415)["allowed"] == ["message/rfc822", "text/plain"]
    monkeypatch.setattr(mail_settings, "mail_in_max_bytes", 2048)
    huge = message("长" * 5000)
    assert problem(await post(client, admin, huge), 413)["limit"] == 2048

    # Streamed without a length: counted as it comes.
    async def chunks() -> Any:
        for i in range(0, len(huge), 512):
            yield huge[i : i + 512]

    r = await client.post("/v1/mail/inbound", content=chunks(), headers={**admin, **RAW})
    problem(r, 413)
    # Strange but readable headers do not fail a message.
    monkeypatch.setattr(mail_settings, "mail_in_max_bytes", 25 * 1024 * 1024)
    odd = (b"From: =?gb2312?B?!!!?= <wang@example.cn>\r\nSubject: =?utf-8?Q?=ZZ?=\x1b[31m\r\n"
           b"Message-ID: " + b"<" + b"a" * 2000 + b"@x>\r\nReferences: <<<>>>\r\n\r\nhi\r\n")  # fmt: skip
    r = await post(client, admin, odd)
    assert r.status_code == 202 and r.json()["outcome"] == "ticket", r.text
    assert r.json()["message_id"].startswith("<sha256.")
    after = await counts(db)
    assert after["inbound_messages"] == before["inbound_messages"] + 1


async def test_text_plain_is_taken_as_raw_mail_too(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    integration = await issue_key("integration")
    r = await client.post("/v1/mail/inbound", content=message(),
                          headers={**integration, "Content-Type": "text/plain; charset=utf-8"})  # fmt: skip
    assert r.status_code == 202 and r.json()["outcome"] == "ticket", r.text


# --- The admin list ---------------------------------------------------------------------


async def test_the_list_pages_and_filters_and_keeps_to_the_branch(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail_settings: Settings
) -> None:
    t = await create_ticket(client, admin, world)
    for i in range(3):
        await post(client, admin, message(f"第{i}封", headers={"In-Reply-To": root(t["id"])}))
    await post(client, admin, message("x", sender="nobody@else.example"))  # refused
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/mail/inbound", params=params, headers=admin)).json()
        seen += [m["outcome"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["refused", "comment", "comment", "comment"]  # newest first
    r = await client.get("/v1/mail/inbound", params={"ticket_id": t["id"]}, headers=admin)
    assert len(r.json()["items"]) == 3
    # A manager of another branch sees none of them; of this branch, the ticket's.
    other = await issue_key("manager", world.other_branch_id)
    assert (await client.get("/v1/mail/inbound", headers=other)).json()["items"] == []
    mine = await issue_key("manager", world.branch_id)
    assert len((await client.get("/v1/mail/inbound", headers=mine)).json()["items"]) == 3
    r = await client.get("/v1/mail/inbound", params={"outcome": "nope"}, headers=admin)
    problem(r, 422)
    assert r.headers["content-type"] == PROBLEM
    engineer = await issue_key("engineer")
    assert (await client.get("/v1/mail/inbound", headers=engineer)).status_code == 403


async def test_a_gateway_of_one_branch_cannot_bounce_another_branchs_mail(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
) -> None:
    t = await create_ticket(client, admin, world)
    address = "nobody@example.cn"
    sent = await delivery(t, address)
    gateway = await issue_key("integration", world.other_branch_id)
    r = await post(client, gateway, dsn(sent.message_id, address))
    assert r.status_code == 202, r.text
    assert "names no delivery of ours" in r.json()["reason"]
    state = await db.fetchval("SELECT state FROM email_deliveries WHERE id = $1", sent.id)
    assert state != "dead"
    assert await db.fetchval("SELECT count(*) FROM mail_suppressions") == 0
    # The ticket's own branch (or an all-branch key) may.
    own = await issue_key("integration", world.branch_id)
    r = await post(client, own, dsn(sent.message_id, address, message_id="<again@mx.example.cn>"))
    assert r.json()["delivery_id"] == str(sent.id), r.text


async def test_hard_bounces_count_toward_suppression_only_within_the_window(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    mail_settings: Settings,
    db: asyncpg.Connection,
    clock: Any,
) -> None:
    assert mail_settings.mail_suppress_after_bounces == 3
    t = await create_ticket(client, admin, world)
    address = "moved@example.cn"
    window = timedelta(days=mail_settings.mail_bounce_window_days)

    async def bounce() -> int:
        d = await delivery(t, address)
        r = await post(client, admin, dsn(d.message_id, address))
        assert r.status_code == 202, r.text
        return int(await db.fetchval(
            "SELECT hard_bounces FROM mail_suppressions WHERE address = $1", address
        ))  # fmt: skip

    assert await bounce() == 1
    clock.set(clock.now() + window + timedelta(hours=1))  # a bounce long ago: start again
    assert await bounce() == 1
    clock.set(clock.now() + timedelta(days=1))
    assert await bounce() == 2
    assert (
        await db.fetchval("SELECT suppressed FROM mail_suppressions WHERE address = $1", address)
        is False
    )
    clock.set(clock.now() + timedelta(days=1))
    assert await bounce() == 3  # three within the window: suppressed
    assert (
        await db.fetchval("SELECT suppressed FROM mail_suppressions WHERE address = $1", address)
        is True
    )
