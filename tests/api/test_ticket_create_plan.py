"""A creation that follows one with the same customer, device, day and priority is one
statement planned from the first one's context (tickets.service `create`): it must write
exactly what the first wrote, and a plan whose context changed meanwhile must neither
write what the context no longer allows nor start clocks from targets that changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import Clock, FixedClock, set_clock
from app.core.db import open_uow
from tests.factories import World, build_world, ticket_body

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def world(app: Any) -> World:
    return await build_world()


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    fixed = FixedClock(NOW)
    set_clock(fixed)
    yield fixed
    set_clock(Clock())


async def _rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    async with open_uow() as uow:
        return [dict(r) for r in (await uow.session.execute(text(sql), params)).mappings()]


async def _written(ticket_id: str) -> dict[str, Any]:
    """Everything a creation wrote for a ticket, without what differs by nature (ids,
    the number and what refers to them)."""
    t = {"t": uuid.UUID(ticket_id)}
    ticket = (await _rows("SELECT *, search_vector::text AS sv FROM tickets WHERE id = :t", **t))[0]
    for k in ("id", "number", "search_vector"):
        ticket.pop(k)
    events = await _rows(
        "SELECT type, actor_id, actor_name, actor_role, channel, at, after - 'number' AS after "
        "FROM ticket_events WHERE ticket_id = :t",
        **t,
    )
    outbox = await _rows(
        "SELECT event_type, aggregate_type, status, attempts, created_at, available_at, "
        "payload - 'ticket_id' - 'number' #- '{after,number}' AS payload "
        "FROM outbox WHERE aggregate_id = :t",
        **t,
    )
    clocks = await _rows(
        "SELECT metric, target_seconds, calendar_id, warn_percent, state, started_at, "
        "used_seconds, running_since, warn_at, due_at, updated_at "
        "FROM ticket_clocks WHERE ticket_id = :t ORDER BY metric",
        **t,
    )
    segments = await _rows(
        "SELECT c.metric, s.kind, s.reason, s.started_at, s.ended_at FROM ticket_clock_segments s "
        "JOIN ticket_clocks c ON c.id = s.clock_id WHERE c.ticket_id = :t ORDER BY c.metric",
        **t,
    )
    timers = await _rows(
        "SELECT m.kind, c.metric, m.due_at, m.fire_at, m.version, m.state, m.enqueued_version, "
        "m.attempts FROM timers m LEFT JOIN ticket_clocks c ON c.id = m.subject_id "
        "WHERE m.subject_id = :t OR c.ticket_id = :t ORDER BY m.kind, c.metric",
        **t,
    )
    return {
        "ticket": ticket,
        "events": events,
        "outbox": outbox,
        "clocks": clocks,
        "segments": segments,
        "timers": timers,
    }


def _answer(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    for k in ("id", "number"):
        body.pop(k)
    return body


async def test_a_planned_creation_writes_and_answers_what_the_first_did(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    for body in (ticket_body(world), ticket_body(world, device_id=None, priority="P3")):
        first = await client.post("/v1/tickets", json=body, headers=admin)
        second = await client.post("/v1/tickets", json=body, headers=admin)
        assert (first.status_code, second.status_code) == (201, 201), second.text
        assert _answer(second) == _answer(first)
        assert second.json()["number"] > first.json()["number"]
        assert await _written(second.json()["id"]) == await _written(first.json()["id"])


async def test_a_plan_does_not_outlive_its_context(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    body = ticket_body(world)
    first = await client.post("/v1/tickets", json=body, headers=admin)
    assert first.status_code == 201, first.text
    seconds = {c["metric"]: c["target_seconds"] for c in first.json()["sla"]}

    # The targets change: the next creation starts its clocks from the new ones.
    async with open_uow() as uow:
        await uow.session.execute(text("UPDATE sla_targets SET minutes = minutes * 2"))
    second = await client.post("/v1/tickets", json=body, headers=admin)
    assert second.status_code == 201, second.text
    assert {c["metric"]: c["target_seconds"] for c in second.json()["sla"]} == {
        m: 2 * s for m, s in seconds.items()
    }
    clocks = await _rows(
        "SELECT metric, target_seconds FROM ticket_clocks WHERE ticket_id = :t",
        t=uuid.UUID(second.json()["id"]),
    )
    assert {c["metric"]: c["target_seconds"] for c in clocks} == {
        m: 2 * s for m, s in seconds.items()
    }

    # The customer is deactivated: refused, and nothing written.
    r = await client.patch(
        f"/v1/customers/{world.customer_id}", json={"active": False}, headers=admin
    )
    assert r.status_code == 200, r.text
    refused = await client.post("/v1/tickets", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "customer_id"
    count = await _rows(
        "SELECT count(*) AS n FROM tickets WHERE customer_id = :c", c=world.customer_id
    )
    assert count[0]["n"] == 2
