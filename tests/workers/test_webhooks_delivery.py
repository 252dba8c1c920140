"""Outbound webhooks against real HTTP: a live receiver (tests/webhookreceiver.py) on a
local port, the outbox drained in process through the webhooks consumer, the send job
called in process (and once through a real worker process, end to end from a ticket
created over the API).

Loopback is allowed here through WEBHOOK_ALLOW_NETWORKS only (the `hooks` fixture), so
the receiver can be reached; the SSRF tests take the allowance away again at send time.
The clock is pinned: the schedule, Retry-After, the overlap of a rotated secret and the
days of failure are walked through without sleeping."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.clock import FixedClock, get_clock
from app.core.config import Settings, get_settings
from app.core.db import open_uow
from app.core.ids import uuid7
from app.hooks import consumer, envelope, jobs, sender
from app.hooks.repository import deliveries as delivery_repo
from app.hooks.secrets import new_signing_secret
from app.outbox.dispatcher import Dispatcher, load_consumer
from app.outbox.drain import drain_once
from app.outbox.models import OutboxMessage
from app.outbox.service import publish
from tests.factories import build_world, ticket_body
from tests.webhookreceiver import Receiver, Reply
from tests.workers.harness import Worker, held_redis_db

SUBS = "/v1/webhooks/subscriptions"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The process settings with loopback allowed and short time-outs."""
    s = get_settings()
    for name, value in {
        "webhook_allow_networks": ["127.0.0.0/8"],
        "webhook_connect_timeout_seconds": 2.0,
        "webhook_read_timeout_seconds": 2.0,
        "webhook_response_excerpt_bytes": 64,
        "webhook_batch_size": 50,
        "webhook_concurrency": 8,
        "webhook_disable_after_days": 5,
        "webhook_secret_overlap_hours": 24,
        "webhook_sending_stale_seconds": 120,
    }.items():
        monkeypatch.setattr(s, name, value)
    return s


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def disp() -> Dispatcher:
    """A dispatcher with the webhooks consumer only (the mail consumer stays out)."""
    d = Dispatcher()
    load_consumer("app.hooks.consumer:consume", into=d)
    return d


async def subscribe(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, patterns: list[str] | None = None,
    **kw: Any,
) -> dict[str, Any]:  # fmt: skip
    body = {"name": f"rx {uuid.uuid4().hex[:6]}", "url": url,
            "event_types": patterns or ["*"], **kw}  # fmt: skip
    r = await client.post(SUBS, json=body, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def emit(
    disp: Dispatcher, event_type: str = "ticket.created", n: int = 1, **data: Any
) -> list[uuid.UUID]:
    """`n` outbox messages of `event_type` (created at the pinned clock's now), drained
    through the webhooks consumer. Their ids."""
    now = get_clock().now()
    ids: list[uuid.UUID] = []
    async with open_uow() as uow:
        for i in range(n):
            m = publish(uow, event_type, "ticket", uuid7(), {"i": i, "名称": "电源告警", **data})
            m.created_at = m.available_at = now
            ids.append(m.id)
    while await drain_once(100, disp) == 100:
        pass
    return ids


async def send() -> int:
    return await jobs.send_webhooks({})


async def deliveries(db: asyncpg.Connection, subscription_id: str | None = None) -> list[Any]:
    if subscription_id is None:
        return list(await db.fetch("SELECT * FROM webhook_deliveries ORDER BY created_at, id"))
    return list(await db.fetch(
        "SELECT * FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY created_at, id",
        uuid.UUID(subscription_id),
    ))  # fmt: skip


async def log_of(client: httpx.AsyncClient, admin: dict[str, str], delivery_id: Any) -> Any:
    r = await client.get(f"/v1/webhooks/deliveries/{delivery_id}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


async def subscription(client: httpx.AsyncClient, admin: dict[str, str], sid: str) -> Any:
    r = await client.get(f"{SUBS}/{sid}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def later(clock: FixedClock, seconds: float) -> None:
    clock.set(clock.now() + timedelta(seconds=seconds))


# --- what the receiver gets ---------------------------------------------------------------------


async def test_a_delivery_is_the_signed_versioned_envelope(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url, ["ticket.*"])
    rx.secrets = [sub["secret"]]
    [message_id] = await emit(disp, "ticket.created", number="T2026-000123")
    assert await send() == 1
    [req] = rx.requests
    # Signed with the subscription's secret: the package verifies it (wall-clock
    # tolerance included: the pinned clock is the real now, to the second).
    assert req.verify(sub["secret"], strict=True) and req.verified_by == [sub["secret"]]
    assert not req.verify(new_signing_secret())
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == "Supportline-Webhooks/1"
    assert req.headers["host"] == f"127.0.0.1:{rx.port}"
    assert req.webhook_id == f"evt_{message_id.hex}"
    assert req.timestamp == int(clock.now().timestamp())
    assert len(req.signatures) == 1 and req.signatures[0].startswith("v1,")
    # The envelope: compact, versioned, the outbox payload as data.
    doc = req.json()
    assert list(doc) == ["version", "id", "type", "timestamp", "data"]
    assert doc["version"] == 1 and doc["id"] == req.webhook_id and doc["type"] == "ticket.created"
    assert doc["timestamp"] == envelope.timestamp(clock.now()) and doc["timestamp"].endswith("Z")
    assert doc["data"] == {"i": 0, "名称": "电源告警", "number": "T2026-000123"}
    assert req.body == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    # The delivery log.
    [row] = await deliveries(db)
    assert row["state"] == "delivered" and row["attempts"] == 1 and row["body"].encode() == req.body
    detail = await log_of(client, admin, row["id"])
    assert detail["state"] == "delivered" and detail["last_status"] == 200
    [attempt] = detail["history"]
    assert attempt["outcome"] == "success" and attempt["status_code"] == 200
    assert attempt["address"] == "127.0.0.1" and attempt["duration_ms"] >= 0
    assert attempt["response_excerpt"] == '{"ok":true}'
    r = await client.get(f"{SUBS}/{sub['id']}/deliveries", headers=admin)
    assert [d["event_id"] for d in r.json()["items"]] == [req.webhook_id]
    # Nothing more goes out.
    assert await send() == 0 and rx.count() == 1


async def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url)
    old = sub["secret"]
    r = await client.post(f"{SUBS}/{sub['id']}/rotate-secret", headers=admin)
    new = r.json()["secret"]
    rx.secrets = [old, new]
    await emit(disp)
    await send()
    [during] = rx.requests
    assert len(during.signatures) == 2
    assert during.verified_by == [old, new]
    assert during.verify(old, strict=True) and during.verify(new, strict=True)
    later(clock, 24 * 3600 + 1)  # the overlap is over
    await emit(disp)
    await send()
    after = rx.requests[1]
    assert len(after.signatures) == 1 and after.verified_by == [new]


async def test_events_arrive_once_each_with_distinct_ids_whatever_their_order(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    tickets = await subscribe(client, admin, rx.url_for("/tickets"), ["ticket.*"])
    every = await subscribe(client, admin, rx.url_for("/all"), ["*"])
    sla = await subscribe(client, admin, rx.url_for("/sla"), ["sla.breached"])
    # The first answers are slow, so later events overtake earlier ones.
    rx.script(*[Reply(delay=0.3 - 0.05 * i) for i in range(6)], path="/all")
    created = await emit(disp, "ticket.created", n=6)
    breached = await emit(disp, "sla.breached", n=3)
    other = await emit(disp, "stock.low", n=2)
    await send()
    by_path: dict[str, list[str]] = {}
    for r in rx.requests:
        by_path.setdefault(r.path, []).append(r.webhook_id)

    def ids(messages: list[uuid.UUID]) -> set[str]:
        return {envelope.event_id(m) for m in messages}

    assert sorted(by_path["/tickets"]) == sorted(ids(created))
    assert sorted(by_path["/sla"]) == sorted(ids(breached))
    assert sorted(by_path["/all"]) == sorted(ids(created) | ids(breached) | ids(other))
    # Distinct ids, each once: what a receiver de-duplicating on webhook-id needs.
    assert all(len(v) == len(set(v)) for v in by_path.values())
    # Sent concurrently: later events went out while the first was still unanswered (its
    # receiver stalled), so a receiver cannot count on one event's answer before the
    # next. (Arrival order itself is the scheduler's, so it is not asserted.)
    first, *rest = [r for r in rx.requests if r.path == "/all"]
    assert any(r.at < first.at + first.reply.delay for r in rest)
    assert len(await deliveries(db, every["id"])) == 11
    assert (
        len(await deliveries(db, tickets["id"])) == 6 and len(await deliveries(db, sla["id"])) == 3
    )
    # The consumer run again on the same messages (a receipt lost) writes nothing new.
    async with open_uow() as uow:
        messages = [await uow.session.get(OutboxMessage, m) for m in created]
        await consumer.consume_batch(uow, [m for m in messages if m is not None])
    assert len(await deliveries(db)) == 20
    assert await send() == 0 and rx.count() == 20


async def test_a_disabled_subscription_is_not_sent_its_own_disabled_notice(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    watcher = await subscribe(client, admin, rx.url_for("/watcher"), ["webhook.*"])
    other = await subscribe(client, admin, rx.url_for("/other"), ["*"])
    await emit(disp, sender.DISABLED_EVENT, subscription_id=watcher["id"], reason="failing")
    assert [r["subscription_id"] for r in await deliveries(db)] == [uuid.UUID(other["id"])]


# --- retries ------------------------------------------------------------------------------------


async def test_a_500_then_a_200_is_two_attempts_in_the_log(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url)
    rx.script(Reply(500, body=b"upstream\x00 broken " + b"x" * 200))
    await emit(disp)
    await send()
    [row] = await deliveries(db)
    assert row["state"] == "retrying" and row["attempts"] == 1 and row["last_status"] == 500
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=5)
    assert (await subscription(client, admin, sub["id"]))["failing_since"] is not None
    later(clock, 4)
    assert await send() == 0 and rx.count() == 1  # not due yet
    later(clock, 1)
    await send()
    assert rx.count() == 2 and rx.requests[0].webhook_id == rx.requests[1].webhook_id
    assert rx.requests[0].body == rx.requests[1].body
    detail = await log_of(client, admin, row["id"])
    assert detail["state"] == "delivered" and detail["attempts"] == 2
    first, second = detail["history"]
    assert (first["outcome"], first["status_code"]) == ("http_error", 500)
    assert (second["outcome"], second["status_code"]) == ("success", 200)
    # The first 64 bytes of the answer, as text (the NUL replaced: text cannot hold it).
    assert first["response_excerpt"] == "upstream\ufffd broken " + "x" * 47
    assert first["error"] == "HTTP 500 Internal Server Error"
    assert all(a["duration_ms"] >= 0 and a["address"] == "127.0.0.1" for a in detail["history"])
    # A success clears the failure streak.
    assert (await subscription(client, admin, sub["id"]))["failing_since"] is None


async def test_retry_after_on_429_and_503_is_honoured(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    await subscribe(client, admin, rx.url)
    rx.script(
        Reply(429, headers={"Retry-After": "120"}),
        Reply(503, headers={"Retry-After": format_datetime(clock.now() + timedelta(minutes=20),
                                                           usegmt=True)}),
    )  # fmt: skip
    await emit(disp)
    await send()
    [row] = await deliveries(db)
    assert row["state"] == "retrying"
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=120)
    later(clock, 5)  # the schedule alone would try now
    assert await send() == 0 and rx.count() == 1
    later(clock, 115)
    await send()
    assert rx.count() == 2
    [row] = await deliveries(db)
    # Asked for 20 min from the first answer's time: 18 min from now; the schedule's 5 min
    # is shorter, so the receiver's wish holds.
    assert row["last_status"] == 503
    assert row["next_attempt_at"] == clock.now() + timedelta(minutes=18)
    later(clock, 18 * 60)
    await send()
    assert rx.count() == 3 and (await deliveries(db))[0]["state"] == "delivered"


async def test_eight_failed_attempts_fail_the_delivery(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    rx.default = Reply(502)
    await subscribe(client, admin, rx.url)
    await emit(disp)
    waits = []
    for _ in range(8):
        await send()
        [row] = await deliveries(db)
        if row["state"] == "failed":
            break
        waits.append((row["next_attempt_at"] - clock.now()).total_seconds())
        clock.set(row["next_attempt_at"])
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert row["state"] == "failed" and row["attempts"] == 8 and rx.count() == 8


async def test_410_gone_disables_the_subscription_and_fails_its_open_deliveries(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url)
    watcher = await subscribe(client, admin, rx.url_for("/watcher"), ["webhook.*"])
    rx.script(Reply(500), Reply(410, body=b"gone for good"), path="/hook")
    await emit(disp, "ticket.created")
    await send()  # the first: 500, retrying in 5 s
    await emit(disp, "ticket.updated")
    await send()  # the second: 410
    got = await subscription(client, admin, sub["id"])
    assert got["active"] is False and got["disabled_reason"] == "gone"
    states = [r["state"] for r in await deliveries(db, sub["id"])]
    assert states == ["failed", "failed"]
    # The notice went to the outbox, and from there to the watcher (not to the gone one).
    later(clock, 60)  # the notice's row is stamped by the wall clock
    await emit(disp, "ticket.closed")  # drains the notice too; nothing for the gone one
    await send()
    [notice] = [r for r in rx.requests if r.path == "/watcher"]
    doc = notice.json()
    assert doc["type"] == "webhook.subscription_disabled"
    assert doc["data"]["subscription_id"] == sub["id"] and doc["data"]["reason"] == "gone"
    assert len(await deliveries(db, sub["id"])) == 2
    assert len(await deliveries(db, watcher["id"])) == 1
    # Redelivery needs the subscription enabled first.
    r = await client.post(f"{SUBS}/{sub['id']}/redeliver", json={"since": "2020-01-01T00:00:00Z"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 409, r.text


async def test_failures_spanning_n_days_disable_it_with_a_notice_event(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    rx.script(*[Reply(500)] * 100, path="/flaky")
    flaky = await subscribe(client, admin, rx.url_for("/flaky"), ["ticket.*"])
    watcher = await subscribe(client, admin, rx.url_for("/watcher"), ["webhook.*"])
    start = clock.now()
    for _day in range(5):  # a failing event a day: not yet more than 5 days
        await emit(disp, "ticket.updated")
        await send()
        got = await subscription(client, admin, flaky["id"])
        assert got["active"] is True
        assert datetime.fromisoformat(got["failing_since"]) == start
        later(clock, 86400)
    clock.set(start + timedelta(days=5, seconds=1))
    await emit(disp, "ticket.updated")
    await send()
    got = await subscription(client, admin, flaky["id"])
    assert got["active"] is False and got["disabled_reason"] == "failing"
    notices = await db.fetch(
        "SELECT * FROM outbox WHERE event_type = 'webhook.subscription_disabled'"
    )
    assert len(notices) == 1
    payload = notices[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["subscription_id"] == flaky["id"] and payload["reason"] == "failing"
    assert datetime.fromisoformat(payload["failing_since"]) == start
    open_states = {"pending", "retrying", "sending"}
    assert not [r for r in await deliveries(db, flaky["id"]) if r["state"] in open_states]
    # Delivered to the watcher; enabled again, the flaky one starts a fresh streak.
    while await drain_once(100, disp) == 100:
        pass
    await send()
    assert [r.json()["type"] for r in rx.requests if r.path == "/watcher"] == [
        "webhook.subscription_disabled"
    ]
    assert len(await deliveries(db, watcher["id"])) == 1
    r = await client.post(f"{SUBS}/{flaky['id']}/enable", headers=admin)
    assert r.json()["active"] is True and r.json()["failing_since"] is None


# --- redelivery -----------------------------------------------------------------------------------


async def test_redeliver_one_and_everything_since_an_instant(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url)
    await emit(disp, "ticket.created")
    later(clock, 60)
    since = clock.now()
    await emit(disp, "ticket.updated")
    later(clock, 60)
    await emit(disp, "ticket.closed")
    await send()
    assert rx.count() == 3
    first, second, third = await deliveries(db, sub["id"])
    r = await client.post(f"/v1/webhooks/deliveries/{first['id']}/redeliver", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending" and r.json()["attempts"] == 0
    await send()
    assert rx.count() == 4 and rx.requests[3].webhook_id == first["event_id"]
    assert rx.requests[3].body == rx.requests[0].body  # the same bytes, the same id
    detail = await log_of(client, admin, first["id"])
    assert detail["state"] == "delivered" and len(detail["history"]) == 2  # the log is kept
    r = await client.post(f"{SUBS}/{sub['id']}/redeliver", json={"since": since.isoformat()},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json() == {"redelivered": 2}
    pending = await client.get(f"{SUBS}/{sub['id']}/deliveries", params={"state": "pending"},
                               headers=admin)  # fmt: skip
    assert {d["id"] for d in pending.json()["items"]} == {str(second["id"]), str(third["id"])}
    await send()
    assert [r.webhook_id for r in rx.requests[4:]].count(second["event_id"]) == 1
    assert {r.webhook_id for r in rx.requests[4:]} == {second["event_id"], third["event_id"]}
    assert len(rx.ids()) == 3  # a receiver de-duplicating on webhook-id saw three events


async def test_a_delivery_in_flight_is_not_redelivered(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    sub = await subscribe(client, admin, rx.url)
    await emit(disp)
    now = clock.now()
    async with open_uow() as uow:  # a worker claimed it and is sending
        await delivery_repo.claim(uow, now, now + timedelta(seconds=120), 10)
    [row] = await deliveries(db)
    r = await client.post(f"/v1/webhooks/deliveries/{row['id']}/redeliver", headers=admin)
    assert r.status_code == 409, r.text
    r = await client.post(f"{SUBS}/{sub['id']}/redeliver", json={"since": "2020-01-01T00:00:00Z"},
                          headers=admin)  # fmt: skip
    assert r.json() == {"redelivered": 0}


async def test_a_dead_workers_claim_is_sent_once_its_lease_ran_out(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
) -> None:  # fmt: skip
    await subscribe(client, admin, rx.url)
    await emit(disp, n=3)
    now = clock.now()
    lease = now + timedelta(seconds=sender.lease_seconds(hooks, 50))
    async with open_uow() as uow:  # claimed by a worker that then died
        assert len(await delivery_repo.claim(uow, now, lease, 50)) == 3
    assert await send() == 0 and rx.count() == 0
    clock.set(lease)
    assert await send() == 3
    assert rx.count() == 3 and len(rx.ids()) == 3
    assert {r["state"] for r in await deliveries(db)} == {"delivered"}


# --- SSRF at send time, redirects, time-outs ---------------------------------------------------------


async def test_targets_refused_at_send_time_are_logged_refused_and_retried(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], clock: FixedClock, db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Registered while the networks were allowed; the allowance is gone at send time
    (as a DNS change would move a name onto a private address): nothing is sent."""
    monkeypatch.setattr(hooks, "webhook_allow_networks", ["0.0.0.0/0", "::/0"])
    targets = [rx.url, f"http://[::1]:{rx.port}/hook", "http://169.254.169.254/latest/meta-data/",
               "http://10.0.0.1/hook", f"http://localhost:{rx.port}/hook"]  # fmt: skip
    subs = [await subscribe(client, admin, url) for url in targets]
    monkeypatch.setattr(hooks, "webhook_allow_networks", [])
    await emit(disp)
    await send()
    assert rx.count() == 0
    for sub, url in zip(subs, targets, strict=True):
        [row] = await deliveries(db, sub["id"])
        assert row["state"] == "retrying" and row["last_status"] is None, url
        [attempt] = (await log_of(client, admin, row["id"]))["history"]
        assert attempt["outcome"] == "refused" and attempt["address"] is None, url
        assert "global" in attempt["error"], attempt
    # Allowed again (the DNS change undone, say): the retry goes through.
    monkeypatch.setattr(hooks, "webhook_allow_networks", ["127.0.0.0/8", "::1/128"])
    later(clock, 5)
    await send()
    assert rx.count() >= 2  # 127.0.0.1, and ::1 / localhost where the host has IPv6 loopback


async def test_a_redirect_is_not_followed(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    with Receiver() as inner:
        rx.script(
            Reply(307, headers={"Location": inner.url}),
            Reply(302, headers={"Location": "http://10.0.0.1/admin"}),
        )
        await subscribe(client, admin, rx.url, ["ticket.created"])
        await subscribe(client, admin, rx.url_for("/second"), ["ticket.created"])
        await emit(disp, "ticket.created")
        await send()
        assert inner.count() == 0  # never followed, to a private address or anywhere
    assert rx.count() == 2
    for row in await deliveries(db):
        assert row["state"] == "retrying" and row["last_status"] in (302, 307)
        assert "redirects are not followed" in row["last_error"]


async def test_a_slow_receiver_times_out(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(hooks, "webhook_read_timeout_seconds", 0.3)
    rx.script(Reply(delay=1.5))
    await subscribe(client, admin, rx.url)
    await emit(disp)
    t0 = time.monotonic()
    await send()
    assert time.monotonic() - t0 < 1.4
    [row] = await deliveries(db)
    assert row["state"] == "retrying"
    attempt = await db.fetchrow("SELECT * FROM webhook_attempts WHERE delivery_id = $1", row["id"])
    assert attempt["outcome"] == "timeout" and attempt["status_code"] is None
    assert 250 <= attempt["duration_ms"] < 1400


async def test_an_unreachable_receiver_is_a_network_error(
    hooks: Settings, disp: Dispatcher, client: httpx.AsyncClient, admin: dict[str, str],
    db: asyncpg.Connection,
) -> None:  # fmt: skip
    with Receiver() as gone:
        url = gone.url
    await subscribe(client, admin, url)
    await emit(disp)
    await send()
    attempt = await db.fetchrow("SELECT * FROM webhook_attempts")
    assert attempt["outcome"] == "network_error" and attempt["address"] == "127.0.0.1"


# --- the job's wake-up ------------------------------------------------------------------------------


async def test_the_consumer_wakes_the_sender_once_per_unit_of_work(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:  # fmt: skip
    from app.core import queue

    await subscribe(client, admin, rx.url)
    pool = await queue.get_pool()
    # Earlier tests' wake-ups (a slot is a quarter-second: the same id would be taken).
    await queue.discard([j.decode() for j in await pool.zrange("arq:queue", 0, -1)
                         if j.decode().startswith(jobs.WAKE_JOB_PREFIX)])  # fmt: skip
    before = set(await pool.zrange("arq:queue", 0, -1))
    await emit(disp, n=5)
    added = [j.decode() for j in set(await pool.zrange("arq:queue", 0, -1)) - before]
    try:
        assert len(added) == 1 and added[0].startswith(jobs.WAKE_JOB_PREFIX)
    finally:
        await queue.discard(added)


# --- end to end through a real worker process ----------------------------------------------------------

WORKER_REDIS_DB = int(os.environ.get("WEBHOOKS_TEST_REDIS_DB", "14"))
LOCK_KEY = "supportline:test:webhooks-worker-lock"


@pytest.fixture
async def worker_redis(services: dict[str, str]) -> AsyncIterator[str]:
    async with held_redis_db(services["redis_url"], WORKER_REDIS_DB, LOCK_KEY) as url:
        yield url


@pytest.mark.slow
async def test_a_ticket_created_over_the_api_reaches_the_receiver_signed(
    services: dict[str, str], worker_redis: str, hooks: Settings, rx: Receiver,
    client: httpx.AsyncClient, admin: dict[str, str], db: asyncpg.Connection, tmp_path: Path,
) -> None:  # fmt: skip
    world = await build_world()
    sub = await subscribe(client, admin, rx.url, ["ticket.created"])
    env = dict(os.environ)
    env.update({
        "ENV": "test", "DATABASE_URL": services["database_url"], "REDIS_URL": worker_redis,
        "WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]', "WEBHOOK_POLL_SECONDS": "1",
        "OUTBOX_POLL_SECONDS": "1", "MAIL_ENABLED": "false", "LOG_LEVEL": "INFO",
        "WORKER_HEALTH_CHECK_INTERVAL": "2",
    })  # fmt: skip
    worker = Worker(env, tmp_path / "worker.log")
    try:
        await worker.ready()
        t0 = time.monotonic()
        r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
        assert r.status_code == 201, r.text
        ticket = r.json()
        try:
            [req] = await rx.wait_for(1, timeout=30)
        except AssertionError:
            pytest.fail(worker.tail())
        lag = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while (await deliveries(db))[0]["state"] != "delivered":
            assert time.monotonic() < deadline, worker.tail()
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
    assert req.verify(sub["secret"], strict=True)
    doc = req.json()
    assert doc["type"] == "ticket.created" and doc["id"] == req.webhook_id
    assert doc["data"]["ticket_id"] == ticket["id"] and doc["data"]["number"] == ticket["number"]
    assert abs(datetime.fromisoformat(doc["timestamp"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert lag < 15
    assert rx.count() == 1


async def test_a_subscription_deleted_while_its_delivery_is_in_flight(
    hooks: Settings, rx: Receiver, disp: Dispatcher, client: httpx.AsyncClient,
    admin: dict[str, str], db: asyncpg.Connection,
) -> None:  # fmt: skip
    """The pass records the rest of its batch; the deleted one has nothing to record."""
    gone = await subscribe(client, admin, rx.url_for("/gone"))
    kept = await subscribe(client, admin, rx.url_for("/kept"))
    rx.script(Reply(delay=0.5), path="/gone")
    await emit(disp)
    task = asyncio.ensure_future(send())
    await rx.wait_for(2)
    r = await client.delete(f"{SUBS}/{gone['id']}", headers=admin)
    assert r.status_code == 204
    assert await task == 2
    [row] = await deliveries(db)
    assert row["subscription_id"] == uuid.UUID(kept["id"]) and row["state"] == "delivered"
    assert await db.fetchval("SELECT count(*) FROM webhook_attempts") == 1
