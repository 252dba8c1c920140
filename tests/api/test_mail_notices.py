"""Outbound notices (issue 12, items 1, 2, 4): who hears of which event, the rendered
mail (language, subject, threading headers, links), skipped recipients and why, quiet
hours, flood rules (one SLA mail per level, caps -> digests), exactly-once writing when
the consumer runs twice, digests, and the rules/subscriptions/profiles/preview API.

Events are made through the API and the outbox is drained through `app.outbox.drain`
with the mail consumer registered, as the worker does. The clock is pinned on a working
day after the wall clock (rows published by the ORM carry the wall clock's time and must
be due)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from app.calendars.businesstime import is_working_time, next_working_instant
from app.calendars.holiday_source import china_5x8
from app.core.clock import FixedClock
from app.core.config import Settings, get_settings
from app.core.db import open_uow
from app.mail import ids
from app.mail.consumer import consume
from app.mail.defaults import ensure_mail_defaults
from app.mail.digest import compose_due
from app.outbox.drain import drain_once
from app.people.models import Team
from tests.api.conftest import create_ticket, engineer_on_shift, problem
from tests.conftest import issue_key
from tests.factories import World

SHANGHAI = ZoneInfo("Asia/Shanghai")
DOMAIN = "supportline.local"


def _working_morning() -> datetime:
    """10:00 in Shanghai on the first working day (China 5x8) after today."""
    cal = china_5x8()
    day = datetime.now(UTC).date() + timedelta(days=1)
    while True:
        at = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)
        if is_working_time(cal, at) and is_working_time(cal, at + timedelta(hours=7)):
            return at
        day += timedelta(days=1)


@pytest.fixture
def clock_start() -> datetime:
    return _working_morning()


@pytest.fixture
async def mail(consumers: Callable[..., None], clock: FixedClock) -> FixedClock:
    """The mail consumer registered as the worker registers it, the default rules (a
    fresh test database has only what the migrations hold); the pinned clock."""
    consumers(consume.consumer_name, consume, consume.event_types)  # type: ignore[attr-defined]
    async with open_uow() as uow:
        await ensure_mail_defaults(uow)
    return clock


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = get_settings()
    monkeypatch.setattr(s, "mail_domain", DOMAIN)
    monkeypatch.setattr(s, "mail_staff_url", "https://desk.example.cn/tickets/{ticket_id}")
    return s


async def drain() -> None:
    while await drain_once(200):
        pass


async def deliveries(**where: Any) -> list[dict[str, Any]]:
    """email_deliveries rows (oldest first), filtered by column equality."""
    clauses = " AND ".join(f"{k} = :{k}" for k in where) or "TRUE"
    async with open_uow() as uow:
        rows = await uow.session.execute(
            text(f"SELECT * FROM email_deliveries WHERE {clauses} ORDER BY created_at, id"),
            where,
        )
        return [dict(r) for r in rows.mappings()]


async def sql(statement: str, **params: Any) -> None:
    async with open_uow() as uow:
        await uow.session.execute(text(statement), params)


@dataclass
class People:
    owner_id: uuid.UUID
    owner: dict[str, str]
    manager_id: uuid.UUID
    manager: dict[str, str]
    other_id: uuid.UUID
    other: dict[str, str]


async def _engineer(
    client: httpx.AsyncClient, world: World, name: str, email: str | None, lang: str,
    team_id: uuid.UUID | None = None, name_en: str | None = None,
) -> tuple[uuid.UUID, dict[str, str]]:  # fmt: skip
    eid, headers = await engineer_on_shift(client, world.branch_id, name=name, team_id=team_id)
    await sql("UPDATE engineers SET email = :e, languages = ARRAY[:l]::varchar[], name_en = :n "
              "WHERE id = :i", e=email, l=lang, n=name_en, i=eid)  # fmt: skip
    return eid, headers


@pytest.fixture
async def people(client: httpx.AsyncClient, world: World) -> People:
    """An English-speaking owner in a team whose manager reads Chinese, and another
    engineer of the same team."""
    manager_headers = await issue_key("manager")
    r = await client.get("/v1/me", headers=manager_headers)
    manager_id = uuid.UUID(r.json()["id"])
    async with open_uow() as uow:
        team = Team(code=f"T{uuid.uuid4().hex[:6]}", name="一线支持组", line="l1",
                    branch_id=world.branch_id, manager_id=manager_id)  # fmt: skip
        uow.session.add(team)
        await uow.session.flush()
        team_id = team.id
    from app.people.models import Engineer

    async with open_uow() as uow:
        uow.session.add(Engineer(id=manager_id, name="赵经理", line="l1", branch_id=world.branch_id,
                                 team_id=team_id, email="Zhao.Manager@Support.example.cn",
                                 languages=["zh-CN"]))  # fmt: skip
    owner_id, owner = await _engineer(client, world, "王磊", "wang.lei@support.example.cn", "en",
                                      team_id, name_en="Wang Lei")  # fmt: skip
    other_id, other = await _engineer(client, world, "李强", "li.qiang@support.example.cn",
                                      "zh-CN", team_id)  # fmt: skip
    return People(owner_id, owner, manager_id, manager_headers, other_id, other)


async def _ticket(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, **kw: Any
) -> dict[str, Any]:
    body = {"priority": "P3", "impact": None, "urgency": None, **kw}
    return await create_ticket(client, admin, world, **body)


async def act(
    client: httpx.AsyncClient, h: dict[str, str], tid: str, action: str, **body: Any
) -> None:
    r = await client.post(f"/v1/tickets/{tid}/{action}", json=body, headers=h)
    assert r.status_code == 200, r.text


# --- who hears of what, in which language, threaded -----------------------------------


async def test_a_tickets_notices_reach_the_right_people_in_their_language_threaded(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    t = await _ticket(client, admin, world)
    await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    r = await client.post(f"/v1/tickets/{t['id']}/comments",
                          json={"body": "请提供<b>日志</b> & 截图", "visibility": "public"},
                          headers=people.owner)  # fmt: skip
    assert r.status_code == 201, r.text
    await drain()
    rows = await deliveries(ticket_id=uuid.UUID(t["id"]))
    by = {(d["event_type"], d["role"]): d for d in rows}
    root = f"<ticket.{t['id']}@{DOMAIN}>"

    created = by[("ticket.created", "reporter")]
    assert created["address"] == "wang@example.cn" and created["language"] == "zh-CN"
    assert created["state"] == "queued" and created["recipient_kind"] == "contact"
    assert created["subject"] == f"[{t['number']}] 已受理：{t['subject']}"
    assert created["in_reply_to"] == root
    assert created["text_body"].startswith("王伟，您好：")
    assert "desk.example.cn" not in created["text_body"]  # customers get no staff link
    assert "desk.example.cn" not in created["html_body"]

    assigned = by[("ticket.assigned", "owner")]
    assert assigned["address"] == "wang.lei@support.example.cn"
    assert assigned["language"] == "en" and assigned["display_name"] == "Wang Lei"
    assert assigned["subject"] == f"[{t['number']}] Assigned to you: {t['subject']}"
    link = f"https://desk.example.cn/tickets/{t['id']}"
    assert f"View the ticket: {link}" in assigned["text_body"]
    assert f'href="{link}"' in assigned["html_body"]
    assert "style=" in assigned["html_body"] and "<style>" not in assigned["html_body"]

    comment = by[("ticket.comment_added", "reporter")]
    assert comment["state"] == "queued" and comment["address"] == "wang@example.cn"
    assert "请提供<b>日志</b> & 截图" in comment["text_body"]
    assert "请提供&lt;b&gt;日志&lt;/b&gt; &amp; 截图" in comment["html_body"]
    own = by[("ticket.comment_added", "owner")]
    assert own["state"] == "skipped" and own["reason"].startswith("own_comment:")
    # One Message-ID per (event, address), deterministic; every mail in the ticket's thread.
    for d in rows:
        assert d["in_reply_to"] == root
        assert d["message_id"] == ids.delivery_message_id(d["outbox_id"], d["address"], DOMAIN)
    assert len({d["message_id"] for d in rows}) == len(rows)


async def test_the_consumer_run_twice_for_the_same_messages_writes_nothing_twice(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    t = await _ticket(client, admin, world, contact_id=str(world.contact_id))
    await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    await drain()
    first = await deliveries()
    assert len(first) >= 2
    # As if the receipts were lost (or the worker died after the rows and before the
    # outbox mark): every message pending again, consumed again through the drain.
    await sql("DELETE FROM outbox_receipts")
    await sql("UPDATE outbox SET status = 'pending', delivered_at = NULL")
    await drain()
    again = await deliveries()
    assert [(d["id"], d["message_id"], d["state"]) for d in again] == [
        (d["id"], d["message_id"], d["state"]) for d in first
    ]
    async with open_uow() as uow:
        pending = (await uow.session.execute(
            text("SELECT count(*) FROM outbox WHERE status <> 'delivered'"))).scalar()  # fmt: skip
    assert pending == 0


# --- skipped recipients and why -------------------------------------------------------


async def test_recipients_without_an_address_opted_out_or_inactive_are_skipped_with_why(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    # 李娜 (the other customer's contact) has no address; a ticket may have no contact.
    no_address = await _ticket(client, admin, world, customer_id=str(world.other_customer_id),
                               contact_id=str(world.other_contact_id), device_id=None)  # fmt: skip
    nobody = await _ticket(client, admin, world, contact_id=None)
    # An identity without an engineer profile has no address either.
    bare = await issue_key("manager")
    bare_id = uuid.UUID((await client.get("/v1/me", headers=bare)).json()["id"])
    await act(client, admin, nobody["id"], "assign", owner_id=str(bare_id))
    # The owner turned assignment notices off for himself; the other engineer is gone.
    r = await client.put(f"/v1/mail/subscriptions/engineer/{people.owner_id}/ticket.assigned",
                         json={"subscribed": False}, headers=people.owner)  # fmt: skip
    assert r.status_code == 200, r.text
    opted = await _ticket(client, admin, world)
    await act(client, admin, opted["id"], "assign", owner_id=str(people.owner_id))
    gone = await _ticket(client, admin, world)
    await act(client, admin, gone["id"], "assign", owner_id=str(people.other_id))
    await sql("UPDATE engineers SET active = false WHERE id = :i", i=people.other_id)
    await drain()

    def one(tid: str, event: str) -> dict[str, Any]:
        found = [d for d in rows if str(d["ticket_id"]) == tid and d["event_type"] == event]
        assert len(found) == 1, found
        return found[0]

    rows = await deliveries()
    d = one(no_address["id"], "ticket.created")
    assert (d["state"], d["address"], d["display_name"]) == ("skipped", "", "李娜")
    assert d["reason"].startswith("no_address:") and d["text_body"] == ""
    d = one(nobody["id"], "ticket.created")
    assert d["state"] == "skipped" and d["reason"].startswith("no_contact:")
    d = one(nobody["id"], "ticket.assigned")
    assert d["state"] == "skipped" and d["recipient_id"] == bare_id
    assert d["reason"].startswith("no_address:")
    d = one(opted["id"], "ticket.assigned")
    assert d["state"] == "skipped" and d["reason"].startswith(
        "opted_out: the engineer's subscription"
    )
    d = one(gone["id"], "ticket.assigned")
    assert d["state"] == "skipped" and d["reason"].startswith("inactive:")
    # Two recipients without an address on one event keep a row each (their
    # Message-IDs are made from who they are).
    assert len({d["message_id"] for d in rows}) == len(rows)


async def test_subscriptions_most_specific_wins_and_an_opt_in_reaches_only_the_concerned(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    put = client.put
    # The team manager role opts in to assignments; the customer opts out of creations.
    r = await put("/v1/mail/subscriptions/role/team_manager/ticket.assigned",
                  json={"subscribed": True}, headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["subject_kind"] == "role", r.text
    r = await put(f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created",
                  json={"subscribed": False}, headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    # The owner role opts out of comments, but this owner opts back in for himself.
    await put("/v1/mail/subscriptions/role/owner/ticket.comment_added",
              json={"subscribed": False}, headers=admin)  # fmt: skip
    await put(f"/v1/mail/subscriptions/engineer/{people.owner_id}/ticket.comment_added",
              json={"subscribed": True}, headers=people.owner)  # fmt: skip
    t = await _ticket(client, admin, world)
    await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    r = await client.post(f"/v1/tickets/{t['id']}/comments",
                          json={"body": "客户来电补充现象", "visibility": "public"}, headers=admin)  # fmt: skip
    assert r.status_code == 201
    await drain()
    rows = await deliveries(ticket_id=uuid.UUID(t["id"]))
    got = {(d["event_type"], d["role"], d["state"]) for d in rows}
    assert ("ticket.created", "reporter", "skipped") in got
    assert ("ticket.assigned", "owner", "queued") in got
    assert ("ticket.assigned", "team_manager", "queued") in got  # the role's opt-in
    assert ("ticket.comment_added", "owner", "queued") in got  # his own word wins
    manager = next(d for d in rows if d["role"] == "team_manager")
    assert manager["address"] == "zhao.manager@support.example.cn"  # lower-cased
    assert manager["language"] == "zh-CN" and manager["display_name"] == "赵经理"
    # The role's opt-in never mails strangers: the other engineer of the team is nobody's
    # team manager and hears nothing.
    assert not [d for d in rows if d["recipient_id"] == people.other_id]
    # Deleting a subscription lets the rule speak again.
    r = await client.delete(f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created",
                            headers=admin)  # fmt: skip
    assert r.status_code == 204
    r = await client.delete(f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created",
                            headers=admin)  # fmt: skip
    problem(r, 404)


async def test_a_disabled_rule_mails_nobody_whatever_the_subscriptions(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    r = await client.patch("/v1/mail/rules/ticket.created", json={"enabled": False}, headers=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False
    await client.put(f"/v1/mail/subscriptions/customer/{world.customer_id}/ticket.created",
                     json={"subscribed": True}, headers=admin)  # fmt: skip
    await _ticket(client, admin, world)
    await drain()
    assert await deliveries() == []


# --- the reporter's confirmation, waiting on him, the survey link ---------------------


async def test_waiting_and_resolution_notices_ask_the_reporter_and_carry_the_survey_link(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    from app.callbacks.interface import survey_link

    await sql("UPDATE contacts SET language = 'en', name = 'Wang Wei' WHERE id = :i",
              i=world.contact_id)  # fmt: skip
    t = await _ticket(client, admin, world)
    await act(client, people.owner, t["id"], "start")
    await act(client, people.owner, t["id"], "wait", on="customer",
              note="Please send the output of display diagnostic-information.")  # fmt: skip
    await act(client, people.owner, t["id"], "resume")
    await act(client, people.owner, t["id"], "resolve",
              resolution_summary="Replaced the power module 02312SHD.")  # fmt: skip
    await drain()
    rows = {d["event_type"]: d for d in await deliveries(role="reporter")}
    waiting = rows["ticket.waiting_customer"]
    assert waiting["subject"] == f"[{t['number']}] Information needed: {t['subject']}"
    assert "display diagnostic-information" in waiting["text_body"]
    resolved = rows["ticket.resolved"]
    assert resolved["language"] == "en" and resolved["text_body"].startswith("Dear Wang Wei,")
    assert "Please confirm that the problem is solved" in resolved["text_body"]
    assert "Replaced the power module 02312SHD." in resolved["text_body"]
    async with open_uow() as uow:
        link = await survey_link(uow, uuid.UUID(t["id"]))
    assert link is not None
    assert f"Rate our service: {link}" in resolved["text_body"]
    assert f'href="{link}"' in resolved["html_body"]
    # The owner started the work himself: no "assigned to you" mail about his own act.
    assigned = await deliveries(event_type="ticket.assigned")
    assert [(d["state"], d["reason"][:11]) for d in assigned] == [("skipped", "own_action:")]


# --- quiet hours ----------------------------------------------------------------------


async def test_quiet_hours_hold_non_urgent_notices_until_the_recipients_working_time(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    evening = mail.now() + timedelta(hours=10)  # 20:00 in Shanghai
    mail.set(evening)
    calm = await _ticket(client, admin, world)  # P3: waits
    urgent = await _ticket(client, admin, world, priority="P2")  # never waits
    await drain()
    expected = next_working_instant(china_5x8(), evening)
    assert expected.astimezone(SHANGHAI).hour == 9 and expected > evening
    [held] = await deliveries(ticket_id=uuid.UUID(calm["id"]))
    assert held["state"] == "queued" and held["urgent"] is False
    assert held["held_until"] == expected and held["available_at"] == expected
    [now] = await deliveries(ticket_id=uuid.UUID(urgent["id"]))
    assert now["urgent"] is True and now["held_until"] is None and now["available_at"] == evening
    # A customer working around the clock (its profile's calendar) is not held.
    r = await client.get("/v1/calendars/by-code/24x7", headers=admin)
    r = await client.put(f"/v1/mail/profiles/customers/{world.customer_id}",
                         json={"calendar_id": r.json()["id"]}, headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    again = await _ticket(client, admin, world)
    await drain()
    [at_once] = await deliveries(ticket_id=uuid.UUID(again["id"]))
    assert at_once["held_until"] is None and at_once["available_at"] == evening


# --- floods: one SLA mail per target and level, caps and digests -----------------------


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


async def _fire_sla(now: datetime) -> None:
    """What a worker's wake-up does at `now`: fire the due timers (SLA clocks only)."""
    import app.sla.timers  # noqa: F401  (registers the SLA handler, as the worker does)
    from app.timers import firing

    while True:
        async with open_uow() as uow:
            batch = await firing.fire_due(uow, 100)
        if batch.taken < 100:
            return


@pytest.fixture
def only_sla_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SLA's timers fire; the escalation chain's and others' are not ours here."""
    import app.sla.timers  # noqa: F401
    from app.timers import service as timers

    kept = {k: v for k, v in timers._handlers.items() if k == "sla.clock"}
    monkeypatch.setattr(timers, "_handlers", kept)


async def _republish(message_id: uuid.UUID) -> None:
    """The same announcement made again (a recompute, a reopen): a new outbox row with
    the same payload."""
    await sql("INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, event_id, "
              "payload, status, attempts, created_at, available_at) SELECT :n, event_type, "
              "aggregate_type, aggregate_id, NULL, payload, 'pending', 0, created_at, "
              "available_at FROM outbox WHERE id = :o", n=uuid.uuid4(), o=message_id)  # fmt: skip


async def test_an_sla_target_mails_each_address_once_per_level(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings, only_sla_timers: None,
) -> None:  # fmt: skip
    t = await _ticket(client, admin, world, priority="P2", service_type="remote")
    await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    r = await client.get(f"/v1/tickets/{t['id']}/clocks", headers=admin)
    clock = next(c for c in r.json() if c["metric"] == "resolution")
    mail.set(_at(clock["warn_at"]))
    await _fire_sla(mail.now())
    mail.set(_at(clock["due_at"]))
    await _fire_sla(mail.now())
    await drain()
    sla = [d for d in await deliveries(role="owner") if d["event_type"].startswith("sla.")]
    assert {(d["event_type"], d["state"]) for d in sla} >= {
        ("sla.warning", "queued"), ("sla.breached", "queued")
    }  # fmt: skip
    warning = next(d for d in sla if d["event_type"] == "sla.warning"
                   and d["flood_key"] == f"sla.warning:{clock['id']}")  # fmt: skip
    assert warning["subject"] == f"[{t['number']}] SLA warning (resolution): {t['subject']}"
    assert "Due: " in warning["text_body"] and warning["urgent"] is True  # P2
    # The clock announced again (its target recomputed): nobody gets it twice.
    for d in (warning, next(d for d in sla if d["flood_key"] == f"sla.breached:{clock['id']}")):
        await _republish(d["outbox_id"])
    await drain()
    again = [d for d in await deliveries(role="owner") if d["flood_key"] is None
             and d["event_type"].startswith("sla.")]  # fmt: skip
    assert len(again) == 2
    assert {d["state"] for d in again} == {"skipped"}
    assert all(d["reason"].startswith("already_notified:") for d in again)


async def test_an_escalation_chain_is_mailed_once_per_level(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    from app.outbox.service import publish
    from app.tickets.interface import outbox_payload

    t = await _ticket(client, admin, world)
    clock_id = str(uuid.uuid4())

    async def notice(level: int, recipients: list[str]) -> None:
        data = {"level": level, "after": "breach", "recipients": recipients, "clock_id": clock_id}
        async with open_uow() as uow:
            publish(uow, "ticket.escalation_notice", "ticket", uuid.UUID(t["id"]),
                    outbox_payload(uuid.UUID(t["id"]), t["number"], world.branch_id, "new",
                                   "P3", data=data))  # fmt: skip

    await notice(1, [str(people.manager_id), "role:manager"])
    await notice(2, [str(people.other_id)])
    await notice(1, [str(people.manager_id)])  # the same level once more
    await drain()
    rows = await deliveries(event_type="ticket.escalation_notice")
    got = [(d["address"], d["state"], d["flood_key"]) for d in rows]
    level1 = f"escalation:{clock_id}:breach:1"
    # role:manager names the manager key again (one delivery per address) and the bare
    # manager keys of the test session see no address.
    assert ("zhao.manager@support.example.cn", "queued", level1) in got
    assert ("li.qiang@support.example.cn", "queued", f"escalation:{clock_id}:breach:2") in got
    repeat = [d for d in rows if d["address"] == "zhao.manager@support.example.cn"
              and d["state"] == "skipped"]  # fmt: skip
    assert len(repeat) == 1 and repeat[0]["reason"].startswith("already_notified:")
    first = next(d for d in rows if d["flood_key"] == level1)
    assert first["subject"] == f"[{t['number']}] 升级通知（第 1 级）：{t['subject']}"


async def test_caps_merge_a_floods_overflow_into_one_digest(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(settings, "mail_cap_per_ticket", 2)
    monkeypatch.setattr(settings, "mail_cap_total", 3)
    monkeypatch.setattr(settings, "mail_cap_window_minutes", 10)

    async def comment(tid: str, body: str) -> None:
        r = await client.post(f"/v1/tickets/{tid}/comments",
                              json={"body": body, "visibility": "public"}, headers=admin)  # fmt: skip
        assert r.status_code == 201, r.text
        await drain()  # as the worker does, each event in its turn

    a = await _ticket(client, admin, world)
    await drain()
    await comment(a["id"], "第一次回复")
    await comment(a["id"], "第二次回复")  # the third mail about A: over the per-ticket cap
    b = await _ticket(client, admin, world)  # the third mail in all: still under 3
    await drain()
    await comment(b["id"], "B 的回复")  # the fourth in all: over the total cap
    rows = await deliveries(address="wang@example.cn")
    states = [(str(d["ticket_id"]), d["event_type"], d["state"], (d["reason"] or "")[:14])
              for d in rows]  # fmt: skip
    assert states == [
        (a["id"], "ticket.created", "queued", ""),
        (a["id"], "ticket.comment_added", "queued", ""),
        (a["id"], "ticket.comment_added", "digested", "cap_per_ticket"),
        (b["id"], "ticket.created", "queued", ""),
        (b["id"], "ticket.comment_added", "digested", "cap_total: 3 m"),
    ]
    # Digested mails are rendered: the digest lists them.
    waiting = [d for d in rows if d["state"] == "digested"]
    assert all(d["text_body"] and d["digest_id"] is None for d in waiting)
    async with open_uow() as uow:
        assert await compose_due(uow, mail.now()) == 1
    async with open_uow() as uow:
        assert await compose_due(uow, mail.now()) == 0  # nothing twice
    [digest] = [d for d in await deliveries(address="wang@example.cn") if d["outbox_id"] is None]
    assert digest["state"] == "queued" and digest["event_type"] == "mail.digest"
    assert digest["message_id"] == ids.digest_message_id(digest["id"], DOMAIN)
    assert digest["subject"] == "[Supportline] 通知汇总（2 条）"
    assert digest["ticket_id"] is None and digest["in_reply_to"] is None  # two tickets
    for d in waiting:
        assert d["subject"] in digest["text_body"]
    members = await deliveries(digest_id=digest["id"])
    assert sorted(m["id"] for m in members) == sorted(d["id"] for d in waiting)
    assert {m["state"] for m in members} == {"digested"}
    # A new window: one by one again.
    mail.set(mail.now() + timedelta(minutes=11))
    await comment(a["id"], "窗口之后")
    await drain()
    last = (await deliveries(address="wang@example.cn"))[-1]
    assert last["state"] == "queued" and last["created_at"] == mail.now()


async def test_a_managers_hourly_digest_waits_for_the_end_of_the_hour(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    r = await client.put(f"/v1/mail/profiles/engineers/{people.manager_id}",
                         json={"digest": "hourly"}, headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["digest"] == "hourly", r.text
    await client.put("/v1/mail/subscriptions/role/team_manager/ticket.assigned",
                     json={"subscribed": True}, headers=admin)  # fmt: skip
    mail.set(mail.now() + timedelta(minutes=20))  # 10:20 in Shanghai
    tickets_ = [await _ticket(client, admin, world) for _ in range(2)]
    for t in tickets_:
        await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    await drain()
    rows = await deliveries(role="team_manager")
    end = mail.now().replace(minute=0) + timedelta(hours=1)  # 11:00 in Shanghai
    assert [(d["state"], d["available_at"]) for d in rows] == [("digested", end)] * 2
    assert all(d["reason"].startswith("digest_hourly:") for d in rows)
    async with open_uow() as uow:
        assert await compose_due(uow, end - timedelta(seconds=1)) == 0
    async with open_uow() as uow:
        assert await compose_due(uow, end) == 1
    [digest] = await deliveries(event_type="mail.digest")
    assert digest["address"] == "zhao.manager@support.example.cn"
    assert digest["subject"] == "[Supportline] 通知汇总（2 条）"
    for t in tickets_:
        assert f"https://desk.example.cn/tickets/{t['id']}" in digest["text_body"]
    # The owner's own notices were not held: his profile says nothing of digests.
    owner = await deliveries(role="owner", event_type="ticket.assigned")
    assert {d["state"] for d in owner} == {"queued"}


# --- major incidents ------------------------------------------------------------------


async def test_a_major_incident_reaches_the_emergency_group_and_management_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    r = await client.put(f"/v1/mail/profiles/engineers/{people.other_id}",
                         json={"emergency_group": True}, headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["emergency_group"] is True
    mail.set(mail.now() + timedelta(hours=12))  # 22:00: urgent notices do not wait
    r = await client.post("/v1/incidents", json={"title": "华东区交换机大面积掉线",
                          "description": "BFD 震荡", "product_family": "switch",
                          "update_interval_minutes": 30}, headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    incident = r.json()
    await drain()
    rows = await deliveries(event_type="incident.declared")
    by_address = {d["address"]: d for d in rows if d["address"]}
    member = by_address["li.qiang@support.example.cn"]
    assert member["state"] == "queued" and member["urgent"] is True
    assert member["held_until"] is None and member["available_at"] == mail.now()
    assert member["subject"] == "[重大事故] 华东区交换机大面积掉线"
    assert member["in_reply_to"] == f"<incident.{incident['id']}@{DOMAIN}>"
    assert member["ticket_id"] is None and member["role"] == "emergency_group"
    assert by_address["zhao.manager@support.example.cn"]["state"] == "queued"  # role:manager
    # Admin keys without an engineer profile: recorded, not mailed.
    bare = [d for d in rows if not d["address"]]
    assert bare and {d["state"] for d in bare} == {"skipped"}
    assert ids.ticket_from_headers([member["in_reply_to"]], DOMAIN) is None


# --- the API: rules, subscriptions, profiles ------------------------------------------


async def test_rules_are_listed_read_and_changed_with_if_match(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail: FixedClock
) -> None:
    from tests.api.conftest import walk_pages

    items = await walk_pages(client, admin, "/v1/mail/rules", limit=7)
    from app.mail.defaults import RULES

    assert [i["event_type"] for i in items] == sorted(r["event_type"] for r in RULES)
    r = await client.get("/v1/mail/rules/sla.breached", headers=admin)
    assert r.status_code == 200 and r.json()["roles"] == ["owner"]
    etag = r.headers["etag"]
    r = await client.patch("/v1/mail/rules/sla.breached", headers={**admin, "If-Match": etag},
                           json={"roles": ["owner", "team_manager"], "urgent": True})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["owner", "team_manager"] and r.json()["version"] == 2
    r = await client.patch("/v1/mail/rules/sla.breached", headers={**admin, "If-Match": etag},
                           json={"enabled": False})  # fmt: skip
    problem(r, 412)
    problem(await client.get("/v1/mail/rules/no.such", headers=admin), 404)
    for bad in ({"roles": ["boss"]}, {"roles": ["owner", "owner"]}, {"urgent": None},
                {"roles": None}, {"enabled": [1]}, {"colour": "red"}):  # fmt: skip
        r = await client.patch("/v1/mail/rules/sla.breached", json=bad, headers=admin)
        problem(r, 422)
    # A branch's manager reads rules but changes them only with a key of all branches.
    branch_manager = await issue_key("manager", world.branch_id)
    assert (await client.get("/v1/mail/rules", headers=branch_manager)).status_code == 200
    r = await client.patch("/v1/mail/rules/sla.breached", json={"urgent": False},
                           headers=branch_manager)  # fmt: skip
    problem(r, 403)
    engineer = await issue_key("engineer")
    problem(await client.get("/v1/mail/rules", headers=engineer), 403)
    problem(await client.get("/v1/mail/rules"), 401)
    r = await client.get("/v1/mail/rules/sla.breached", headers=admin)
    assert r.json()["roles"] == ["owner", "team_manager"] and r.json()["urgent"] is True


async def test_subscriptions_are_checked_scoped_and_self_service(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock,
) -> None:  # fmt: skip
    base = "/v1/mail/subscriptions"
    on = {"subscribed": True}
    # Engineers manage their own, not others'; nobody but mail:manage sets roles.
    r = await client.put(f"{base}/engineer/{people.owner_id}/sla.warning", json=on,
                         headers=people.owner)  # fmt: skip
    assert r.status_code == 200, r.text
    problem(await client.put(f"{base}/engineer/{people.other_id}/sla.warning", json=on,
                             headers=people.owner), 403)  # fmt: skip
    problem(await client.put(f"{base}/role/owner/sla.warning", json=on, headers=people.owner), 403)
    # What the path names must exist and be visible.
    problem(await client.put(f"{base}/role/boss/sla.warning", json=on, headers=admin), 422,
            "subject")  # fmt: skip
    problem(await client.put(f"{base}/engineer/not-an-id/sla.warning", json=on, headers=admin),
            422, "subject")  # fmt: skip
    problem(await client.put(f"{base}/engineer/{uuid.uuid4()}/sla.warning", json=on,
                             headers=admin), 404)  # fmt: skip
    problem(await client.put(f"{base}/planet/x/sla.warning", json=on, headers=admin), 422)
    problem(await client.put(f"{base}/role/owner/no.such", json=on, headers=admin), 404)
    problem(await client.put(f"{base}/role/owner/sla.warning", json={"subscribed": "maybe"},
                             headers=admin), 422)  # fmt: skip
    branch_manager = await issue_key("manager", world.branch_id)
    problem(
        await client.put(
            f"{base}/customer/{world.other_customer_id}/ticket.created",
            json=on,
            headers=branch_manager,
        ),
        404,
    )  # another branch's
    first = await client.put(f"{base}/customer/{world.customer_id}/ticket.created", json=on,
                             headers=branch_manager)  # fmt: skip
    assert first.status_code == 200 and first.json()["subscribed"] is True
    r = await client.put(f"{base}/customer/{world.other_customer_id}/ticket.created",
                         json={"subscribed": False}, headers=admin)  # fmt: skip
    assert r.status_code == 200
    # PUT again changes the one row.
    again = await client.put(f"{base}/customer/{world.customer_id}/ticket.created",
                             json={"subscribed": False}, headers=admin)  # fmt: skip
    assert again.json()["id"] == first.json()["id"] and again.json()["subscribed"] is False
    # Lists: the branch's manager does not see the other branch's customer; an engineer
    # sees his own only.
    seen = await client.get(base, headers=branch_manager)
    subjects = {i["subject"] for i in seen.json()["items"]}
    assert str(world.customer_id) in subjects and str(world.other_customer_id) not in subjects
    own = (await client.get(base, headers=people.owner)).json()["items"]
    assert [(i["subject"], i["event_type"]) for i in own] == [(str(people.owner_id), "sla.warning")]
    problem(await client.get(base, params={"subject_kind": "role"}, headers=people.owner), 403)
    r = await client.get(base, params={"subject_kind": "customer", "event_type": "ticket.created"},
                         headers=admin)  # fmt: skip
    assert len(r.json()["items"]) == 2
    problem(await client.get(base, params={"subject_kind": "planet"}, headers=admin), 422)


async def test_profiles_default_then_stored_with_if_match_and_checked(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock,
) -> None:  # fmt: skip
    path = f"/v1/mail/profiles/engineers/{people.owner_id}"
    r = await client.get(path, headers=people.owner)
    assert r.status_code == 200 and r.headers["etag"] == 'W/"0.default"'
    assert r.json()["stored"] is False and r.json()["digest"] == "off"
    assert r.json()["effective_calendar_id"] == "01a20a8b-77d6-7001-8b36-4d5701a3307d"
    lunch = (await client.get("/v1/calendars/by-code/cn-5x8-lunch", headers=admin)).json()["id"]
    r = await client.put(path, json={"calendar_id": lunch, "digest": "daily"},
                         headers={**people.owner, "If-Match": 'W/"0.default"'})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (
        r.headers["etag"] == 'W/"1"'
        and r.json()["version"] == 1
        and r.json()["effective_calendar_id"] == lunch
    )
    problem(await client.put(path, json={"digest": "off"},
                             headers={**people.owner, "If-Match": 'W/"0"'}), 412)  # fmt: skip
    # Joining the emergency group is mail:manage's to decide.
    problem(await client.put(path, json={"emergency_group": True}, headers=people.owner), 403)
    r = await client.put(path, json={"emergency_group": True, "digest": "daily",
                                     "calendar_id": lunch}, headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["emergency_group"] is True and r.json()["version"] == 2
    problem(await client.get(f"/v1/mail/profiles/engineers/{people.other_id}",
                             headers=people.owner), 403)  # fmt: skip
    problem(await client.put(path, json={"calendar_id": str(uuid.uuid4())}, headers=admin), 422,
            "calendar_id")  # fmt: skip
    problem(await client.put(path, json={"digest": "weekly"}, headers=admin), 422)
    problem(await client.get(f"/v1/mail/profiles/engineers/{uuid.uuid4()}", headers=admin), 404)
    # A customer's profile has no emergency group; another branch's customer is not found.
    cpath = f"/v1/mail/profiles/customers/{world.customer_id}"
    problem(await client.put(cpath, json={"emergency_group": True}, headers=admin), 422)
    branch_manager = await issue_key("manager", world.branch_id)
    problem(await client.get(f"/v1/mail/profiles/customers/{world.other_customer_id}",
                             headers=branch_manager), 404)  # fmt: skip
    r = await client.get(cpath, headers=branch_manager)
    assert r.status_code == 200 and r.json()["kind"] == "customer"
    problem(await client.get(cpath, headers=people.owner), 403)


# --- the preview ----------------------------------------------------------------------


async def _counts() -> tuple[int, int, int]:
    async with open_uow() as uow:
        row = (await uow.session.execute(text(
            "SELECT (SELECT count(*) FROM email_deliveries), (SELECT count(*) FROM outbox), "
            "(SELECT count(*) FROM outbox_receipts)"))).one()  # fmt: skip
    return int(row[0]), int(row[1]), int(row[2])


async def test_the_preview_renders_for_each_recipient_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings,
) -> None:  # fmt: skip
    t = await _ticket(client, admin, world)
    await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
    mail.set(mail.now() + timedelta(hours=10))  # 20:00: the reporter's notice would wait
    before = await _counts()
    r = await client.post("/v1/mail/preview", headers=admin, json={
        "event_type": "ticket.comment_added", "ticket_id": t["id"],
        "data": {"body": "请重启后观察 <i>10 分钟</i>", "visibility": "public"}})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["notice_type"] == "ticket.comment_added" and out["outbox_id"] is None
    by_role = {x["role"]: x for x in out["recipients"]}
    reporter, owner = by_role["reporter"], by_role["owner"]
    assert reporter["state"] == "queued" and reporter["language"] == "zh-CN"
    expected = next_working_instant(china_5x8(), mail.now())
    assert _at(reporter["held_until"]) == expected
    assert reporter["subject"] == f"[{t['number']}] 新回复：{t['subject']}"
    assert "请重启后观察 &lt;i&gt;10 分钟&lt;/i&gt;" in reporter["html"]
    assert owner["language"] == "en" and "https://desk.example.cn/tickets/" in owner["text"]
    assert reporter["in_reply_to"] == f"<ticket.{t['id']}@{DOMAIN}>"
    assert await _counts() == before
    # An outbox message's notice, as it would be now (its rows once written, the flood
    # rules count them; nothing is written either way).
    async with open_uow() as uow:
        oid = (await uow.session.execute(text(
            "SELECT id FROM outbox WHERE event_type = 'ticket.assigned' AND aggregate_id = :t"),
            {"t": t["id"]})).scalar_one()  # fmt: skip
    r = await client.post("/v1/mail/preview", json={"outbox_id": str(oid)}, headers=admin)
    assert r.status_code == 200, r.text
    assert [x["role"] for x in r.json()["recipients"]] == ["owner"]
    assert r.json()["recipients"][0]["message_id"] == ids.delivery_message_id(
        oid, "wang.lei@support.example.cn", DOMAIN
    )
    assert await _counts() == before
    # A skipped recipient is rendered too, with why.
    bare = await _ticket(client, admin, world, customer_id=str(world.other_customer_id),
                         contact_id=str(world.other_contact_id), device_id=None)  # fmt: skip
    before = await _counts()
    r = await client.post("/v1/mail/preview", headers=admin, json={
        "event_type": "ticket.created", "ticket_id": bare["id"]})  # fmt: skip
    [skipped] = r.json()["recipients"]
    assert skipped["state"] == "skipped" and skipped["reason"].startswith("no_address:")
    assert skipped["address"] == "" and skipped["text"].startswith("李娜，您好：")
    assert await _counts() == before


async def test_the_preview_refuses_what_it_cannot_preview_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock,
) -> None:  # fmt: skip
    t = await _ticket(client, admin, world)
    other = await _ticket(client, admin, world, customer_id=str(world.other_customer_id),
                          contact_id=str(world.other_contact_id), device_id=None)  # fmt: skip
    before = await _counts()
    send = client.post
    for body, field in [
        ({}, "event_type"),
        ({"event_type": "ticket.created"}, "ticket_id"),
        ({"ticket_id": t["id"]}, "event_type"),
        ({"event_type": "ticket.created", "ticket_id": t["id"], "outbox_id": str(uuid.uuid4())},
         "outbox_id"),
        ({"event_type": "no.such", "ticket_id": t["id"]}, "event_type"),
        ({"event_type": "incident.declared", "ticket_id": t["id"]}, "event_type"),
        ({"event_type": "ticket.created", "ticket_id": str(uuid.uuid4())}, "ticket_id"),
        ({"event_type": "ticket.cre\u0000ated", "ticket_id": t["id"]}, "event_type"),
        ({"event_type": "x" * 65, "ticket_id": t["id"]}, "event_type"),
        ({"event_type": 7, "ticket_id": t["id"]}, "event_type"),
        ({"event_type": "ticket.created", "ticket_id": "T2026-1"}, "ticket_id"),
        ({"event_type": "ticket.created", "ticket_id": t["id"], "data": {"body": "a\u0000"}},
         None),
        ({"event_type": "ticket.created", "ticket_id": t["id"], "data": {"b": "x" * 30000}},
         "data"),
        ({"event_type": "ticket.created", "ticket_id": t["id"], "data": [1]}, "data"),
    ]:  # fmt: skip
        problem(await send("/v1/mail/preview", json=body, headers=admin), 422, field)
    problem(await send("/v1/mail/preview", json={"outbox_id": str(uuid.uuid4())}, headers=admin),
            404)  # fmt: skip
    # Another branch's ticket is no ticket to a branch's manager.
    branch_manager = await issue_key("manager", world.branch_id)
    r = await send("/v1/mail/preview", json={"event_type": "ticket.created",
                                             "ticket_id": other["id"]}, headers=branch_manager)  # fmt: skip
    problem(r, 422, "ticket_id")
    problem(await send("/v1/mail/preview", json={"event_type": "ticket.created",
                                                 "ticket_id": t["id"]}, headers=people.owner), 403)  # fmt: skip
    r = await client.post("/v1/mail/preview", content=b"{", headers={**admin,
                          "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert await _counts() == before


# --- end to end: what a real SMTP server receives (the sender is app.mail.sender) ------


async def test_what_the_smtp_server_receives_is_threaded_bilingual_and_linked(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from app.mail import sender
    from tests.mailsink import MailSink

    sink = MailSink()
    sink.start()
    try:
        for name, value in {"smtp_host": sink.host, "smtp_port": sink.port,
                            "smtp_security": "none", "smtp_username": None,
                            "smtp_timeout_seconds": 5.0, "mail_enabled": True}.items():  # fmt: skip
            monkeypatch.setattr(settings, name, value)
        sender.reset_circuits()
        t = await _ticket(client, admin, world)
        await act(client, admin, t["id"], "assign", owner_id=str(people.owner_id))
        await drain()
        while (await sender.send_pass()).claimed:
            pass
        await sink.wait_for(2)
    finally:
        sink.stop()
        sender.reset_circuits()
    root = f"<ticket.{t['id']}@{DOMAIN}>"
    [reporter] = [m.message for m in sink.to("wang@example.cn")]
    [owner] = [m.message for m in sink.to("wang.lei@support.example.cn")]
    for m in (reporter, owner):
        assert m["In-Reply-To"] == root and m["References"].split()[0] == root
        assert m["Auto-Submitted"] == "auto-generated"
        assert m["Message-ID"].endswith(f"@{DOMAIN}>")
    assert reporter["Subject"] == f"[{t['number']}] 已受理：{t['subject']}"
    assert "王伟" in reporter["To"] and "wang@example.cn" in reporter["To"]
    text = reporter.get_body(("plain",)).get_content()
    assert text.startswith("王伟，您好：") and "desk.example.cn" not in text
    assert owner["Subject"] == f"[{t['number']}] Assigned to you: {t['subject']}"
    html = owner.get_body(("html",)).get_content()
    assert f'href="https://desk.example.cn/tickets/{t["id"]}"' in html
    rows = {d["address"]: d for d in await deliveries()}
    assert rows["wang@example.cn"]["message_id"] == reporter["Message-ID"]
    assert rows["wang@example.cn"]["state"] == "sent"


async def test_an_address_the_sender_could_not_carry_is_skipped_and_names_lose_controls(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, mail: FixedClock,
    settings: Settings,
) -> None:  # fmt: skip
    # Rows written before the API's rules (imports, psql): specials in the address, an
    # escape and a C1 control in the name.
    await sql("UPDATE contacts SET email = 'wang(x)@example.cn', name = 'Wang\x1b[31m\x85 Jun' "
              "WHERE id = :i", i=world.contact_id)  # fmt: skip
    t = await _ticket(client, admin, world)
    await drain()
    [d] = [d for d in await deliveries(ticket_id=uuid.UUID(t["id"]))
           if d["event_type"] == "ticket.created"]  # fmt: skip
    assert d["state"] == "skipped" and d["reason"].startswith("no_address:"), d
    assert d["display_name"] == "Wang [31m Jun"


def test_a_contact_and_an_engineer_sharing_an_address_get_a_digest_each() -> None:
    from app.mail.digest import _groups
    from app.mail.models import EmailDelivery

    def member(kind: str) -> EmailDelivery:
        return EmailDelivery(event_type="ticket.comment_added", recipient_kind=kind,
                             address="shared@example.cn", message_id=f"<{uuid.uuid4()}@x>")  # fmt: skip

    members = [member("contact"), member("engineer"), member("contact")]
    groups = _groups(members)
    assert list(groups) == [("shared@example.cn", False), ("shared@example.cn", True)]
    assert groups[("shared@example.cn", False)] == [members[0], members[2]]
