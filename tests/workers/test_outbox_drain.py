"""The outbox drain (in-process, real PostgreSQL): delivery, receipts, backoff, dead
letters, concurrent drains, the drain job and housekeeping (its admin API: tests/api/
test_outbox_api.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.outbox import jobs
from app.outbox.dispatcher import (
    Dispatcher,
    dispatcher,
    load_configured_consumers,
)
from app.outbox.drain import backoff_seconds, drain_once
from app.outbox.models import OutboxMessage
from tests.conftest import publish_many, unique_type
from tests.workers.consumers import CREATE_EFFECTS, DROP_EFFECTS, record_effect, slow_record

# --- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
async def effects(db: asyncpg.Connection) -> AsyncIterator[None]:
    await db.execute(CREATE_EFFECTS)
    yield
    await db.execute(DROP_EFFECTS)


@pytest.fixture
def clock_start() -> datetime:
    # A little ahead of the wall clock so rows just published are due.
    return datetime.now(UTC) + timedelta(seconds=1)


async def row(db: asyncpg.Connection, message_id: uuid.UUID) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM outbox WHERE id = $1", message_id)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- backoff -------------------------------------------------------------------------


def test_backoff_doubles_is_capped_and_jitter_only_shortens() -> None:
    assert backoff_seconds(1, 2.0, 600.0, rand=0.0) == 2.0
    assert backoff_seconds(2, 2.0, 600.0, rand=0.0) == 4.0
    assert backoff_seconds(5, 2.0, 600.0, rand=0.0) == 32.0
    assert backoff_seconds(10, 2.0, 600.0, rand=0.0) == 600.0
    assert backoff_seconds(500, 2.0, 600.0, rand=0.0) == 600.0  # no overflow
    assert backoff_seconds(1, 2.0, 600.0, rand=1.0) == pytest.approx(1.8)
    for attempts in range(1, 15):
        delay = backoff_seconds(attempts, 2.0, 600.0)
        nominal = min(600.0, 2.0 * 2 ** (attempts - 1))
        assert 0.9 * nominal <= delay <= nominal


# --- delivery and receipts -----------------------------------------------------------


async def test_drain_delivers_fans_out_by_event_type_and_records_receipts(
    db: asyncpg.Connection, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    seen: list[tuple[str, uuid.UUID]] = []

    async def every(uow: UnitOfWork, message: OutboxMessage) -> None:
        seen.append(("every", message.id))

    async def tickets_only(uow: UnitOfWork, message: OutboxMessage) -> None:
        seen.append(("tickets", message.id))

    consumers("t.every", every)
    consumers("t.tickets", tickets_only, ["ticket.*"])
    [ticket_msg] = await publish_many(1, "ticket.created")
    [customer_msg] = await publish_many(1, "customer.updated", "customer")
    delivered_before = metric("supportline_outbox_delivered_total", event_type="ticket.created")

    assert await drain_once(10) == 2
    assert sorted(seen) == sorted(
        [("every", ticket_msg), ("tickets", ticket_msg), ("every", customer_msg)]
    )
    for mid in (ticket_msg, customer_msg):
        r = await row(db, mid)
        assert r["status"] == "delivered"
        assert r["delivered_at"] == clock.now()
        assert r["attempts"] == 0
    receipts = await db.fetch("SELECT consumer, message_id FROM outbox_receipts")
    assert {(r["consumer"], r["message_id"]) for r in receipts} == {
        ("t.every", ticket_msg),
        ("t.tickets", ticket_msg),
        ("t.every", customer_msg),
    }
    assert (
        metric("supportline_outbox_delivered_total", event_type="ticket.created")
        == delivered_before + 1
    )
    # Nothing left: a second drain takes nothing and calls nobody.
    assert await drain_once(10) == 0
    assert len(seen) == 3


async def test_a_consumer_with_a_receipt_is_skipped(
    db: asyncpg.Connection, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    calls: list[uuid.UUID] = []

    async def once(uow: UnitOfWork, message: OutboxMessage) -> None:
        calls.append(message.id)

    consumers("t.once", once)
    done, fresh = await publish_many(2)
    await db.execute(
        "INSERT INTO outbox_receipts (consumer, message_id, processed_at) VALUES ($1, $2, now())",
        "t.once",
        done,
    )
    assert await drain_once(10) == 2
    assert calls == [fresh]
    assert (await row(db, done))["status"] == "delivered"


async def test_not_yet_due_rows_wait_and_due_rows_go_oldest_first(
    db: asyncpg.Connection, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    order: list[uuid.UUID] = []

    async def note(uow: UnitOfWork, message: OutboxMessage) -> None:
        order.append(message.id)

    consumers("t.note", note)
    a, b, later = await publish_many(3)
    # b became available before a; `later` only in an hour.
    await db.execute(
        "UPDATE outbox SET available_at = $2 WHERE id = $1", b, clock.now() - timedelta(minutes=5)
    )
    await db.execute(
        "UPDATE outbox SET available_at = $2 WHERE id = $1", later, clock.now() + timedelta(hours=1)
    )
    assert await drain_once(10) == 2
    assert order == [b, a]
    assert (await row(db, later))["status"] == "pending"
    clock.set(clock.now() + timedelta(hours=1))
    assert await drain_once(10) == 1
    assert order == [b, a, later]


async def test_no_consumers_still_marks_delivered(
    db: asyncpg.Connection, clock: FixedClock
) -> None:
    [mid] = await publish_many(1, unique_type("nobody"))
    assert await drain_once(10) == 1
    assert (await row(db, mid))["status"] == "delivered"


# --- failures, backoff, dead letters -------------------------------------------------


async def test_partial_failure_keeps_the_good_consumer_and_retries_with_backoff(
    db: asyncpg.Connection,
    effects: None,
    clock: FixedClock,
    outbox_settings: Settings,
    consumers: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.outbox.drain.random.random", lambda: 0.0)  # no jitter here
    good_calls: list[uuid.UUID] = []
    flaky_calls: list[uuid.UUID] = []

    async def good(uow: UnitOfWork, message: OutboxMessage) -> None:
        good_calls.append(message.id)
        await record_effect(uow, message, "good")

    async def flaky(uow: UnitOfWork, message: OutboxMessage) -> None:
        flaky_calls.append(message.id)
        # Writes, then fails: the write must be rolled back with its SAVEPOINT.
        await uow.session.execute(
            text("INSERT INTO outbox_test_effects (message_id, consumer, pid) VALUES (:i, 'x', 0)"),
            {"i": uuid7()},
        )
        if len(flaky_calls) < 3:
            raise ConnectionError("smtp down " + "x" * 5000)

    event_type = unique_type()
    consumers("t.good", good)
    consumers("t.flaky", flaky)
    [mid] = await publish_many(1, event_type)
    failed_before = metric(
        "supportline_outbox_failures_total", event_type=event_type, final="false"
    )

    t0 = clock.now()
    assert await drain_once(10) == 1
    r = await row(db, mid)
    assert r["status"] == "pending"
    assert r["attempts"] == 1
    assert r["last_error"].startswith("t.flaky: ConnectionError: smtp down")
    assert len(r["last_error"]) <= 2000
    assert r["available_at"] == t0 + timedelta(seconds=2)
    # The good consumer's work and receipt are committed, the flaky one's are not.
    assert await db.fetchval("SELECT count(*) FROM outbox_test_effects") == 1
    assert await db.fetchval(
        "SELECT array_agg(consumer ORDER BY consumer) FROM outbox_receipts WHERE message_id = $1",
        mid,
    ) == ["t.good"]

    # Not due yet: nothing happens.
    clock.set(t0 + timedelta(seconds=1.5))
    assert await drain_once(10) == 0

    clock.set(t0 + timedelta(seconds=2))
    t1 = clock.now()
    assert await drain_once(10) == 1
    r = await row(db, mid)
    assert (r["status"], r["attempts"]) == ("pending", 2)
    assert r["available_at"] == t1 + timedelta(seconds=4)

    clock.set(t1 + timedelta(seconds=4))
    assert await drain_once(10) == 1
    r = await row(db, mid)
    assert r["status"] == "delivered" and r["attempts"] == 2
    # The good consumer ran exactly once across the three attempts.
    assert good_calls == [mid]
    assert len(flaky_calls) == 3
    assert await db.fetchval("SELECT count(*) FROM outbox_test_effects") == 2
    assert (
        metric("supportline_outbox_failures_total", event_type=event_type, final="false")
        == failed_before + 2
    )


async def test_dead_letter_after_max_attempts(
    db: asyncpg.Connection,
    clock: FixedClock,
    outbox_settings: Settings,
    consumers: Callable[..., None],
) -> None:
    outbox_settings.outbox_max_attempts = 3
    outbox_settings.outbox_backoff_max_seconds = 10.0

    async def broken(uow: UnitOfWork, message: OutboxMessage) -> None:
        raise RuntimeError("consumer bug")

    event_type = unique_type()
    consumers("t.broken", broken)
    [mid] = await publish_many(1, event_type)
    dead_before = metric("supportline_outbox_failures_total", event_type=event_type, final="true")
    for attempt in (1, 2):
        assert await drain_once(10) == 1
        r = await row(db, mid)
        assert (r["status"], r["attempts"]) == ("pending", attempt)
        clock.set(clock.now() + timedelta(seconds=10))
    assert await drain_once(10) == 1
    r = await row(db, mid)
    assert (r["status"], r["attempts"]) == ("dead", 3)
    assert "RuntimeError: consumer bug" in r["last_error"]
    assert r["delivered_at"] is None
    assert (
        metric("supportline_outbox_failures_total", event_type=event_type, final="true")
        == dead_before + 1
    )
    # Dead letters are never drained again.
    clock.set(clock.now() + timedelta(days=1))
    assert await drain_once(10) == 0


async def test_a_database_error_in_a_consumer_spares_the_rest_of_the_batch(
    db: asyncpg.Connection, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    poison_type = unique_type("poison")

    async def sql_error(uow: UnitOfWork, message: OutboxMessage) -> None:
        if message.event_type == poison_type:
            await uow.session.execute(text("SELECT 1 / 0"))
        message_ids.append(message.id)

    message_ids: list[uuid.UUID] = []
    consumers("t.sql", sql_error)
    [first] = await publish_many(1)
    [poison] = await publish_many(1, poison_type)
    [last] = await publish_many(1)
    assert await drain_once(10) == 3
    assert (await row(db, first))["status"] == "delivered"
    assert (await row(db, last))["status"] == "delivered"
    r = await row(db, poison)
    assert r["status"] == "pending" and "division by zero" in r["last_error"]
    assert message_ids == [first, last]


# --- concurrency ---------------------------------------------------------------------


async def test_concurrent_drains_never_take_the_same_row(
    db: asyncpg.Connection,
    effects: None,
    clock: FixedClock,
    consumers: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLOW_RECORD_MS", "3")
    consumers("test.slow_record", slow_record, ["test.*"])
    await publish_many(80, "test.concurrent")
    rounds: list[tuple[int, int]] = []
    while True:
        # Two drains, each with its own session and connection, at the same time.
        a, b = await asyncio.gather(drain_once(10), drain_once(10))
        rounds.append((a, b))
        if a == b == 0:
            break
    # The first round: both got a full batch of their own (SKIP LOCKED), neither waited.
    assert rounds[0] == (10, 10)
    assert sum(a + b for a, b in rounds) == 80
    stats = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,"
        " max(attempts) AS max_attempts FROM outbox"
    )
    assert stats["delivered"] == 80
    assert stats["max_attempts"] == 0  # a duplicate effect would have failed an attempt
    assert await db.fetchval("SELECT count(DISTINCT message_id) FROM outbox_test_effects") == 80
    assert await db.fetchval("SELECT count(*) FROM outbox_test_effects") == 80


# --- the job, configured consumers, housekeeping -------------------------------------


async def test_drain_job_drains_until_empty(
    db: asyncpg.Connection,
    clock: FixedClock,
    consumers: Callable[..., None],
    outbox_settings: Settings,
) -> None:
    outbox_settings.outbox_batch_size = 10

    async def ok(uow: UnitOfWork, message: OutboxMessage) -> None:
        return None

    consumers("t.ok", ok)
    await publish_many(25)
    assert await jobs.drain_outbox({}) == 25
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE status = 'delivered'") == 25
    assert await jobs.drain_outbox({}) == 0


def test_configured_consumers_load_by_dotted_path(outbox_settings: Settings) -> None:
    into = Dispatcher()
    outbox_settings.outbox_consumers = ["tests.workers.consumers:slow_record"]
    loaded = load_configured_consumers(outbox_settings, into)
    # The built-in consumers (e-mail, webhooks) first, then the configured ones.
    assert [c.name for c in loaded] == ["mail", "webhooks", "test.slow_record"]
    wanting = {c.name for c in into.consumers_for("test.anything")}
    assert "test.slow_record" in wanting
    assert "test.slow_record" not in {c.name for c in into.consumers_for("ticket.created")}
    # Loading twice (a restarted startup hook) is harmless; a clash of names is not.
    load_configured_consumers(outbox_settings, into)
    with pytest.raises(ValueError, match="already registered"):
        into.register("test.slow_record", lambda uow, m: asyncio.sleep(0))
    outbox_settings.outbox_consumers = ["tests.workers.consumers:does_not_exist"]
    with pytest.raises(AttributeError):
        load_configured_consumers(outbox_settings, Dispatcher())
    assert "test.slow_record" not in [c.name for c in dispatcher.consumers()]


async def test_purge_removes_old_delivered_messages_and_their_receipts(
    db: asyncpg.Connection, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    async def ok(uow: UnitOfWork, message: OutboxMessage) -> None:
        return None

    consumers("t.ok", ok)
    old, recent = await publish_many(2)
    [pending] = await publish_many(1)
    await db.execute(
        "UPDATE outbox SET available_at = $2 WHERE id = $1",
        pending,
        clock.now() + timedelta(days=1),
    )
    assert await drain_once(10) == 2
    await db.execute(
        "UPDATE outbox SET delivered_at = delivered_at - interval '30 days' WHERE id = $1", old
    )
    assert await jobs.purge_outbox({}) == 1
    remaining = {r["id"] for r in await db.fetch("SELECT id FROM outbox")}
    assert remaining == {recent, pending}
    assert await db.fetchval("SELECT count(*) FROM outbox_receipts WHERE message_id = $1", old) == 0
    assert (
        await db.fetchval("SELECT count(*) FROM outbox_receipts WHERE message_id = $1", recent) == 1
    )
