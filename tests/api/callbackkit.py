"""Helpers of the callback, survey and silence-close tests: a desk with its keys, a
ticket worked to its resolution at a pinned instant, the follow-up's rows and timers as
stored, and firing the callbacks' timers as a worker does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.timers import firing
from tests.api.conftest import create_ticket, key_id
from tests.conftest import issue_key
from tests.factories import World

SHANGHAI = ZoneInfo("Asia/Shanghai")
OVERDUE = "callbacks.overdue"
SILENCE = "callbacks.silence_close"
PLAN = "callbacks.plan_due"


def sh(*args: int) -> datetime:
    """A Shanghai wall-clock instant, in UTC (as the clock gives it): sh(2026, 9, 30, 15)
    is 15:00 there."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[arg-type,misc]


@dataclass
class Desk:
    """The world's branch: an agent (who registers tickets and calls back), a second
    agent, an engineer, a manager; `*_id` are their identities."""

    world: World
    agent: dict[str, str]
    agent_id: uuid.UUID
    agent2: dict[str, str]
    agent2_id: uuid.UUID
    engineer: dict[str, str]
    manager: dict[str, str]


async def make_desk(client: httpx.AsyncClient, world: World) -> Desk:
    agent = await issue_key("agent", world.branch_id)
    agent2 = await issue_key("agent", world.branch_id)
    return Desk(
        world=world,
        agent=agent,
        agent_id=await key_id(client, agent),
        agent2=agent2,
        agent2_id=await key_id(client, agent2),
        engineer=await issue_key("engineer", world.branch_id),
        manager=await issue_key("manager", world.branch_id),
    )


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], tid: str, action: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"/v1/tickets/{tid}/{action}", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def resolved_ticket(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock, at: datetime, **kw: Any
) -> dict[str, Any]:
    """A ticket the agent registers an hour before `at`, resolved by the engineer at `at`
    (the clock is left there)."""
    clock.set(at - timedelta(hours=1))
    t = await create_ticket(client, desk.agent, desk.world, **kw)
    await act(client, desk.engineer, t["id"], "start")
    clock.set(at)
    return await act(client, desk.engineer, t["id"], "resolve", resolution_summary="更换电源模块")


async def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    async with open_uow() as uow:
        result = await uow.session.execute(text(sql), params)
        return [dict(r) for r in result.mappings()]


async def callbacks_of(ticket_id: str) -> list[dict[str, Any]]:
    return await rows("SELECT * FROM callbacks WHERE ticket_id = :t ORDER BY created_at, id",
                      t=ticket_id)  # fmt: skip


async def timer(kind: str, subject: Any) -> dict[str, Any] | None:
    found = await rows("SELECT state, due_at, version, attempts FROM timers"
                       " WHERE kind = :k AND subject_id = :s", k=kind, s=str(subject))  # fmt: skip
    return found[0] if found else None


async def outbox(event_type: str, aggregate_id: Any) -> list[dict[str, Any]]:
    found = await rows("SELECT payload FROM outbox WHERE event_type = :e AND aggregate_id = :a"
                       " ORDER BY id", e=event_type, a=str(aggregate_id))  # fmt: skip
    return [r["payload"] for r in found]


async def events_of(client: httpx.AsyncClient, headers: dict[str, str], tid: str,
                    prefix: str = "") -> list[dict[str, Any]]:  # fmt: skip
    r = await client.get(f"/v1/tickets/{tid}/events", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["type"].startswith(prefix)]


async def fire(kind: str) -> int:
    """Fires the due timers of `kind` as a wake-up job does (one kind per transaction);
    how many fired."""
    import app.callbacks.timers  # noqa: F401  (registered by the worker)

    async with open_uow() as uow:
        return (await firing.fire_due(uow, 100, kinds=[kind])).fired
