"""The outbox's admin API over HTTP (app/outbox/router.py): admins only; the list of
messages newest first with its filters and pages; a message with its receipts; the
retry of a dead letter (idempotent, refused for any other state, and the consumers that
already handled it skipped); the stats. The drain itself: tests/workers/test_outbox_drain.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import UnitOfWork
from app.core.ids import uuid7
from app.outbox.drain import drain_once
from app.outbox.models import OutboxMessage
from tests.api.conftest import problem, walk_pages
from tests.conftest import issue_key, publish_many, unique_type


@pytest.fixture
def clock_start() -> datetime:
    # A little ahead of the wall clock so rows just published are due.
    return datetime.now(UTC) + timedelta(seconds=1)


async def _dead_and_delivered(
    clock: FixedClock, outbox_settings: Settings, consumers: Callable[..., None]
) -> tuple[uuid.UUID, uuid.UUID]:
    outbox_settings.outbox_max_attempts = 1
    dead_type = unique_type("dead")

    async def picky(uow: UnitOfWork, message: OutboxMessage) -> None:
        if message.event_type == dead_type:
            raise ValueError("cannot handle this")

    consumers("t.picky", picky)
    [delivered] = await publish_many(1, "ticket.created")
    [dead] = await publish_many(1, dead_type)
    assert await drain_once(10) == 2
    return dead, delivered


@pytest.fixture
async def dead_and_delivered(
    clock: FixedClock, outbox_settings: Settings, consumers: Callable[..., None]
) -> tuple[uuid.UUID, uuid.UUID]:
    """A dead letter (its one consumer failed it, one attempt allowed) and a delivered
    message, after one drain."""
    return await _dead_and_delivered(clock, outbox_settings, consumers)


@pytest.mark.parametrize("role", ["manager", "dispatcher", "engineer", "agent", "integration"])
async def test_api_requires_an_admin(
    client: httpx.AsyncClient, admin: dict[str, str], role: str
) -> None:
    r = await client.get("/v1/outbox/messages")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    other = await issue_key(role)
    for method, path in (
        ("GET", "/v1/outbox/messages"),
        ("GET", f"/v1/outbox/messages/{uuid7()}"),
        ("POST", f"/v1/outbox/messages/{uuid7()}/retry"),
        ("GET", "/v1/outbox/stats"),
    ):
        r = await client.request(method, path, headers=other)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["type"].endswith("/forbidden")
    r = await client.get("/v1/outbox/stats", headers=admin)
    assert r.status_code == 200


async def test_api_lists_gets_and_pages(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    dead_and_delivered: tuple[uuid.UUID, uuid.UUID],
) -> None:
    dead, delivered = dead_and_delivered
    pending = await publish_many(3, "ticket.updated")

    r = await client.get("/v1/outbox/messages", params={"status": "dead"}, headers=admin)
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["items"]] == [str(dead)]
    assert r.json()["items"][0]["last_error"] == "t.picky: ValueError: cannot handle this"

    # Newest first, two per page.
    seen = [m["id"] for m in await walk_pages(client, admin, "/v1/outbox/messages")]
    assert seen == [str(i) for i in [*reversed(pending), dead, delivered]]

    r = await client.get(
        "/v1/outbox/messages",
        params={"status": "pending", "event_type": "ticket.updated"},
        headers=admin,
    )
    assert len(r.json()["items"]) == 3

    r = await client.get("/v1/outbox/messages", params={"status": "lost"}, headers=admin)
    assert r.status_code == 422
    r = await client.get("/v1/outbox/messages", params={"cursor": "@@"}, headers=admin)
    assert r.status_code == 400

    r = await client.get(f"/v1/outbox/messages/{delivered}", headers=admin)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "delivered" and body["event_type"] == "ticket.created"
    assert [x["consumer"] for x in body["receipts"]] == ["t.picky"]

    r = await client.get(f"/v1/outbox/messages/{uuid7()}", headers=admin)
    assert r.status_code == 404
    assert r.json()["type"].endswith("/not-found")


async def test_api_retry_revives_a_dead_letter_and_refuses_others(
    db: asyncpg.Connection,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: FixedClock,
    dead_and_delivered: tuple[uuid.UUID, uuid.UUID],
) -> None:
    dead, delivered = dead_and_delivered

    r = await client.post(f"/v1/outbox/messages/{delivered}/retry", headers=admin)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["current_status"] == "delivered"
    r = await client.post(f"/v1/outbox/messages/{uuid7()}/retry", headers=admin)
    assert r.status_code == 404

    clock.set(clock.now() + timedelta(minutes=5))
    r = await client.post(
        f"/v1/outbox/messages/{dead}/retry", headers={**admin, "Idempotency-Key": "retry-1"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["attempts"]) == ("pending", 0)
    assert datetime.fromisoformat(body["available_at"]) == clock.now()
    # Same key again: the first answer, not a 409.
    again = await client.post(
        f"/v1/outbox/messages/{dead}/retry", headers={**admin, "Idempotency-Key": "retry-1"}
    )
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    # Without a key, a second retry of a message no longer dead conflicts.
    r = await client.post(f"/v1/outbox/messages/{dead}/retry", headers=admin)
    assert r.status_code == 409 and r.json()["current_status"] == "pending"

    # The revived message is drained again (and fails again: one attempt allowed).
    assert await drain_once(10) == 1
    assert await db.fetchval("SELECT status FROM outbox WHERE id = $1", dead) == "dead"


async def test_api_stats(
    db: asyncpg.Connection,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: FixedClock,
    outbox_settings: Settings,
    consumers: Callable[..., None],
) -> None:
    r = await client.get("/v1/outbox/stats", headers=admin)
    assert r.json() == {
        "counts": {"pending": 0, "delivered": 0, "dead": 0},
        "due": 0,
        "oldest_pending_created_at": None,
        "oldest_pending_age_seconds": None,
        "lag_seconds": 0.0,
    }
    await _dead_and_delivered(clock, outbox_settings, consumers)
    waiting, due = await publish_many(2)
    await db.execute(
        "UPDATE outbox SET created_at = $2, available_at = $3 WHERE id = $1",
        waiting,
        clock.now() - timedelta(minutes=10),
        clock.now() + timedelta(minutes=1),
    )
    await db.execute(
        "UPDATE outbox SET available_at = $2 WHERE id = $1",
        due,
        clock.now() - timedelta(seconds=30),
    )
    body = (await client.get("/v1/outbox/stats", headers=admin)).json()
    assert body["counts"] == {"pending": 2, "delivered": 1, "dead": 1}
    assert body["due"] == 1
    assert body["oldest_pending_age_seconds"] == pytest.approx(600.0)
    assert body["lag_seconds"] == pytest.approx(30.0)


async def test_api_filters_by_type_alone_and_refuses_bad_filters(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    dead_and_delivered: tuple[uuid.UUID, uuid.UUID],
) -> None:
    _, delivered = dead_and_delivered
    pending = await publish_many(2, "ticket.created")
    r = await client.get(
        "/v1/outbox/messages", params={"event_type": "ticket.created"}, headers=admin
    )
    assert [m["id"] for m in r.json()["items"]] == [str(i) for i in [*reversed(pending), delivered]]
    r = await client.get("/v1/outbox/messages", params={"status": "delivered"}, headers=admin)
    assert [m["id"] for m in r.json()["items"]] == [str(delivered)]
    r = await client.get(
        "/v1/outbox/messages",
        params={"status": "dead", "event_type": "ticket.created"},
        headers=admin,
    )
    assert r.json() == {"items": [], "next_cursor": None}
    problem(await client.get("/v1/outbox/messages", params={"status": "lost"}, headers=admin),
            422, "status")  # fmt: skip
    long_type = {"event_type": "x" * 65}
    problem(await client.get("/v1/outbox/messages", params=long_type, headers=admin),
            422, "event_type")  # fmt: skip
    problem(await client.get("/v1/outbox/messages", params={"limit": 0}, headers=admin),
            422, "limit")  # fmt: skip
    problem(await client.get("/v1/outbox/messages", params={"cursor": "@@"}, headers=admin), 400)


async def test_api_a_malformed_id_is_a_422_problem(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    problem(await client.get("/v1/outbox/messages/42", headers=admin), 422, "message_id")
    r = await client.post("/v1/outbox/messages/42/retry", headers=admin)
    problem(r, 422, "message_id")


async def test_api_a_pending_message_has_no_receipts_and_cannot_be_retried(
    client: httpx.AsyncClient, admin: dict[str, str], clock: FixedClock
) -> None:
    [pending] = await publish_many(1, "ticket.updated")
    r = await client.get(f"/v1/outbox/messages/{pending}", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["attempts"], body["receipts"]) == ("pending", 0, [])
    assert body["delivered_at"] is None and body["payload"] == {"i": 0}
    retry = problem(await client.post(f"/v1/outbox/messages/{pending}/retry", headers=admin), 409)
    assert retry["current_status"] == "pending"


async def test_api_retry_runs_only_the_consumers_that_failed(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: FixedClock,
    outbox_settings: Settings,
    consumers: Callable[..., None],
) -> None:
    outbox_settings.outbox_max_attempts = 1
    kind = unique_type("partly")
    state: dict[str, Any] = {"down": True, "good": 0, "flaky": 0}

    async def good(uow: UnitOfWork, message: OutboxMessage) -> None:
        state["good"] += 1

    async def flaky(uow: UnitOfWork, message: OutboxMessage) -> None:
        state["flaky"] += 1
        if state["down"]:
            raise ConnectionError("the CRM is down")

    consumers("t.good", good, [kind])
    consumers("t.flaky", flaky, [kind])
    [message] = await publish_many(1, kind)
    assert await drain_once(10) == 1
    dead = (await client.get(f"/v1/outbox/messages/{message}", headers=admin)).json()
    assert dead["status"] == "dead" and dead["attempts"] == 1
    assert dead["last_error"] == "t.flaky: ConnectionError: the CRM is down"
    assert [x["consumer"] for x in dead["receipts"]] == ["t.good"]

    state["down"] = False
    r = await client.post(f"/v1/outbox/messages/{message}/retry", headers=admin)
    assert r.status_code == 200, r.text
    assert await drain_once(10) == 1
    done = (await client.get(f"/v1/outbox/messages/{message}", headers=admin)).json()
    assert done["status"] == "delivered" and done["delivered_at"] is not None
    assert sorted(x["consumer"] for x in done["receipts"]) == ["t.flaky", "t.good"]
    assert (state["good"], state["flaky"]) == (1, 2)  # the good consumer ran once
