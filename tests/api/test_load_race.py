"""The load counter of an identity assigned while its engineer profile is being created
(issue 9, item 15): the two transactions are interleaved by hand, one held open while
the other runs, and the counter must end exact either way round."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from app.core.db import UnitOfWork, open_uow, sessionmaker
from app.core.security import Principal, Role
from app.people import service as people
from app.people.schemas import EngineerCreate
from app.tickets import service as tickets
from tests.conftest import _plain_dsn, issue_key
from tests.factories import World, ticket_body


async def _principal(client: httpx.AsyncClient, h: dict[str, str]) -> Principal:
    me = (await client.get("/v1/me", headers=h)).json()
    return Principal(uuid.UUID(me["id"]), me["name"], Role(me["role"]), None)


async def _until_waiting_or_done(dsn: str, task: asyncio.Task[Any]) -> None:
    """Returns once `task` waits on a row lock in PostgreSQL, or has finished (as it
    does without the fix: nothing makes it wait)."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(1000):
            if task.done():
                return
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the concurrent transaction neither finished nor waited")
    finally:
        await conn.close()


async def _in_own_uow(work: Any) -> None:
    async with open_uow() as uow:
        await work(uow)


async def _counters(engineer_id: uuid.UUID) -> tuple[int, int]:
    async with open_uow() as uow:
        conn = await uow.connection()
        row = await conn.fetchrow(
            "SELECT open_tickets, open_load FROM engineers WHERE id = $1", engineer_id
        )
    assert row is not None
    return row["open_tickets"], row["open_load"]


async def _setup(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> tuple[Principal, uuid.UUID, str, EngineerCreate]:
    boss = await _principal(client, admin)
    identity = (await _principal(client, await issue_key("engineer"))).id
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)  # P1
    assert r.status_code == 201, r.text
    profile = EngineerCreate(api_key_id=identity, name="张伟", line="l1", branch_id=world.branch_id)
    return boss, identity, r.json()["id"], profile


def _steps(
    boss: Principal, identity: uuid.UUID, tid: str, profile: EngineerCreate
) -> tuple[Any, Any]:
    """The two racing changes: the profile's creation and the identity's assignment."""

    async def create(uow: UnitOfWork) -> None:
        await people.create_engineer(uow, boss, profile)

    async def assign(uow: UnitOfWork) -> None:
        await tickets.act(uow, boss, uuid.UUID(tid), "assign", {"owner_id": identity}, None, None)

    return create, assign


async def _held_open(first: Any, second: Any, dsn: str) -> None:
    """Runs `first` in a transaction held open, `second` concurrently in its own, then
    commits the first and lets the second finish."""
    held = UnitOfWork(sessionmaker())
    try:
        await first(held)
        task: asyncio.Task[None] = asyncio.create_task(_in_own_uow(second))
        await _until_waiting_or_done(dsn, task)
        await held.commit()
    finally:
        await held.close()
    await task


async def test_assigned_while_its_profile_is_created_counts_the_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, services: dict[str, str]
) -> None:
    boss, identity, tid, profile = await _setup(client, admin, world)
    create, assign = _steps(boss, identity, tid, profile)

    # The profile inserted and counted (nothing yet), not committed; the assignment now.
    await _held_open(create, assign, _plain_dsn(services["database_url"]))
    assert await _counters(identity) == (1, 4)


async def test_profile_created_while_the_identity_is_assigned_counts_the_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, services: dict[str, str]
) -> None:
    boss, identity, tid, profile = await _setup(client, admin, world)
    create, assign = _steps(boss, identity, tid, profile)

    # The assignment made (no counter row to move), not committed; the profile now.
    await _held_open(assign, create, _plain_dsn(services["database_url"]))
    assert await _counters(identity) == (1, 4)
    # And a later change moves the counter it now has.
    async with open_uow() as uow:
        await tickets.act(uow, boss, uuid.UUID(tid), "cancel", {"reason": "重复报修"}, None, None)
    assert await _counters(identity) == (0, 0)
