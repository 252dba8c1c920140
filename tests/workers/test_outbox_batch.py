"""The outbox drain's batch handlers (in-process, real PostgreSQL): a consumer declaring
`batch_handler` gets a drain batch's messages at once, each still with its own receipt;
a failed batch is dispatched again one message at a time, so only the failing message
is retried (with backoff) and the others' effects commit exactly once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import UnitOfWork
from app.outbox.drain import drain_once
from app.outbox.models import OutboxMessage
from tests.conftest import publish_many, unique_type
from tests.workers.consumers import CREATE_EFFECTS, DROP_EFFECTS, record_effect


@pytest.fixture
async def effects(db: asyncpg.Connection) -> AsyncIterator[None]:
    await db.execute(CREATE_EFFECTS)
    yield
    await db.execute(DROP_EFFECTS)


@pytest.fixture
def clock_start() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


class Batched:
    """A consumer with both handlers; records which call saw which messages."""

    def __init__(self, poison: set[uuid.UUID] | None = None) -> None:
        self.poison = poison if poison is not None else set()
        self.batches: list[list[uuid.UUID]] = []
        self.singles: list[uuid.UUID] = []

        async def one(uow: UnitOfWork, message: OutboxMessage) -> None:
            self.singles.append(message.id)
            await self.effect(uow, message)

        async def many(uow: UnitOfWork, messages: list[OutboxMessage]) -> None:
            self.batches.append([m.id for m in messages])
            for m in messages:
                await self.effect(uow, m)

        one.batch_handler = many  # type: ignore[attr-defined]
        self.handler = one

    async def effect(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        await record_effect(uow, message, "t.batched")  # written, then maybe rolled back
        if message.id in self.poison:
            raise ValueError("poison message")


async def effects_of(db: asyncpg.Connection) -> set[uuid.UUID]:
    return {r[0] for r in await db.fetch("SELECT message_id FROM outbox_test_effects")}


async def test_a_batch_handler_gets_the_batch_at_once_with_a_receipt_per_message(
    db: asyncpg.Connection, effects: None, clock: FixedClock, consumers: Callable[..., None]
) -> None:
    event_type = unique_type()
    batched = Batched()
    singles: list[uuid.UUID] = []

    async def plain(uow: UnitOfWork, message: OutboxMessage) -> None:
        singles.append(message.id)

    consumers("t.batched", batched.handler, [event_type])
    consumers("t.plain", plain, [event_type])
    ids = await publish_many(5, event_type)
    # One of them was done before (a receipt survives a crash after the commit).
    await db.execute(
        "INSERT INTO outbox_receipts (consumer, message_id, processed_at) VALUES ($1, $2, now())",
        "t.batched", ids[0],
    )  # fmt: skip
    assert await drain_once(10) == 5
    assert batched.batches == [ids[1:]]  # once, in the drain's order, without the done one
    assert batched.singles == []
    assert singles == ids  # a consumer without a batch handler: one message at a time
    assert await effects_of(db) == set(ids[1:])
    receipts = await db.fetch("SELECT message_id FROM outbox_receipts WHERE consumer = 't.batched'")
    assert {r[0] for r in receipts} == set(ids)
    statuses = await db.fetch("SELECT status FROM outbox WHERE id = ANY($1::uuid[])", ids)
    assert {r[0] for r in statuses} == {"delivered"}
    assert await drain_once(10) == 0 and len(batched.batches) == 1


async def test_a_failed_batch_is_retried_one_by_one_and_only_the_poison_backs_off(
    db: asyncpg.Connection,
    effects: None,
    clock: FixedClock,
    outbox_settings: Settings,
    consumers: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.outbox.drain.random.random", lambda: 0.0)  # no jitter here
    event_type = unique_type()
    poison: set[uuid.UUID] = set()
    batched = Batched(poison)
    consumers("t.batched", batched.handler, [event_type])
    first, bad, last = await publish_many(3, event_type)
    poison.add(bad)

    t0 = clock.now()
    assert await drain_once(10) == 3
    # The batch saw all three and failed; its writes and receipts were rolled back, and
    # each message went again alone, in its own SAVEPOINT with its own receipt.
    assert batched.batches == [[first, bad, last]]
    assert batched.singles == [first, bad, last]
    assert await effects_of(db) == {first, last}  # exactly once each; none of the poison's
    rows = {r["id"]: r for r in await db.fetch(
        "SELECT id, status, attempts, available_at, last_error FROM outbox"
        " WHERE id = ANY($1::uuid[])", [first, bad, last])}  # fmt: skip
    assert rows[first]["status"] == rows[last]["status"] == "delivered"
    assert (rows[bad]["status"], rows[bad]["attempts"]) == ("pending", 1)
    assert rows[bad]["available_at"] == t0 + timedelta(seconds=2)
    assert rows[bad]["last_error"] == "t.batched: ValueError: poison message"
    receipts = await db.fetch("SELECT message_id FROM outbox_receipts WHERE consumer = 't.batched'")
    assert {r[0] for r in receipts} == {first, last}

    # Fixed, and due again: it goes alone, in a batch of its own, and only once.
    poison.clear()
    clock.set(t0 + timedelta(seconds=2))
    assert await drain_once(10) == 1
    assert batched.batches[-1] == [bad]
    assert await effects_of(db) == {first, bad, last}
    assert (await db.fetchval("SELECT status FROM outbox WHERE id = $1", bad)) == "delivered"
