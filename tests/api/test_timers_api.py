"""The timers' failure handling and administration: a timer whose handler keeps failing
dies, shows up in /v1/timers and its stats, and an admin's retry sends it back to the
workers; the handler registry; a wake-up that runs out of time hands the rest on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import open_uow
from app.core.queue import get_pool
from app.timers import firing, jobs, registry
from app.timers import service as timers
from tests.api.conftest import walk_pages
from tests.conftest import issue_key

FLAKY = "test.flaky"


@pytest.fixture
async def flaky(app: Any) -> AsyncIterator[dict[str, Any]]:
    """A kind whose handler fails while `state["broken"]`, and records what it fired."""
    state: dict[str, Any] = {"broken": True, "fired": []}

    @timers.handler(FLAKY)
    async def handle(uow: Any, timer: timers.DueTimer, now: datetime) -> None:
        if state["broken"]:
            raise ConnectionError("the CRM is down")
        state["fired"].append(timer.subject_id)

    yield state
    timers.unregister(FLAKY)


async def _kill(clock: FixedClock, subject: uuid.UUID) -> uuid.UUID:
    """Schedules a FLAKY timer and fails it TIMER_MAX_ATTEMPTS times, following the
    backoff with the pinned clock. Returns the dead timer's id."""
    async with open_uow() as uow:
        await timers.schedule(uow, FLAKY, subject, clock.now() + timedelta(seconds=30))
    clock.set(clock.now() + timedelta(seconds=30))
    delays = []
    for _ in range(8):
        async with open_uow() as uow:
            batch = await firing.fire_due(uow)
        assert len(batch.failed) == 1
        async with open_uow() as uow:
            row = (
                await uow.session.execute(
                    text("SELECT id, state, fire_at FROM timers WHERE subject_id = :s"),
                    {"s": subject},
                )
            ).one()
        if row.state == "dead":
            assert batch.dead == batch.failed
            break
        delays.append((row.fire_at - clock.now()).total_seconds())
        clock.set(row.fire_at)
    assert delays == [5, 10, 20, 40, 80, 160, 320]  # TIMER_BACKOFF_BASE_SECONDS doubling
    return uuid.UUID(str(row.id))


async def test_a_dead_timer_is_listed_counted_and_retried_by_an_admin(
    client: httpx.AsyncClient, admin: dict[str, str], clock: FixedClock, flaky: dict[str, Any]
) -> None:
    subject = uuid.uuid4()
    tid = await _kill(clock, subject)

    r = await client.get("/v1/timers", params={"state": "dead"}, headers=admin)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["id"] == str(tid) and item["kind"] == FLAKY
    assert item["attempts"] == 8 and item["last_error"] == "ConnectionError: the CRM is down"
    assert (await client.get("/v1/timers", params={"subject_id": str(subject)},
                             headers=admin)).json()["items"][0]["id"] == str(tid)  # fmt: skip
    assert (await client.get("/v1/timers", params={"state": "pending"}, headers=admin)).json()[
        "items"
    ] == []
    stats = (await client.get("/v1/timers/stats", headers=admin)).json()
    assert stats["counts"]["dead"] == 1 and stats["by_kind"][FLAKY]["dead"] == 1
    assert stats["due"] == 0 and stats["lag_seconds"] == 0

    # Fixed, then retried: pending, due now, a wake-up enqueued, and it fires.
    flaky["broken"] = False
    r = await client.post(f"/v1/timers/{tid}/retry", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["attempts"]) == ("pending", 0)
    assert datetime.fromisoformat(body["fire_at"]) == clock.now()
    pool = await get_pool()
    wake = timers.wake_job_id(timers.slot_of(clock.now()))
    assert await pool.exists(f"arq:job:{wake}")
    await pool.delete(f"arq:job:{wake}")
    await pool.zrem("arq:queue", wake)
    stats = (await client.get("/v1/timers/stats", headers=admin)).json()
    assert (stats["due"], stats["counts"]["pending"], stats["counts"]["dead"]) == (1, 1, 0)
    async with open_uow() as uow:
        batch = await firing.fire_due(uow)
    assert batch.fired == 1 and flaky["fired"] == [subject]
    r = await client.get(f"/v1/timers/{tid}", headers=admin)
    assert r.json()["state"] == "fired" and r.json()["last_error"] is None

    # Only a dead timer can be retried.
    r = await client.post(f"/v1/timers/{tid}/retry", headers=admin)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["current_state"] == "fired"


async def test_timers_api_refuses_bad_input_and_non_admins(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get(f"/v1/timers/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404 and r.json()["title"]
    assert (await client.post(f"/v1/timers/{uuid.uuid4()}/retry", headers=admin)).status_code == 404
    assert (await client.get("/v1/timers/not-a-uuid", headers=admin)).status_code == 422
    r = await client.get("/v1/timers", params={"state": "sleeping"}, headers=admin)
    assert r.status_code == 422
    assert (
        await client.get("/v1/timers", params={"cursor": "x"}, headers=admin)
    ).status_code == 400
    manager = await issue_key("manager")
    for method, path in (
        ("GET", "/v1/timers"),
        ("GET", "/v1/timers/stats"),
        ("GET", f"/v1/timers/{uuid.uuid4()}"),
        ("POST", f"/v1/timers/{uuid.uuid4()}/retry"),
    ):
        assert (await client.request(method, path, headers=manager)).status_code == 403
        assert (await client.request(method, path)).status_code == 401


async def test_timer_list_pages_newest_first(
    client: httpx.AsyncClient, admin: dict[str, str], clock: FixedClock, flaky: dict[str, Any]
) -> None:
    subjects = [uuid.uuid4() for _ in range(5)]
    async with open_uow() as uow:
        for s in subjects:
            await timers.schedule(uow, FLAKY, s, clock.now() + timedelta(hours=1))
    seen = [i["subject_id"] for i in await walk_pages(client, admin, "/v1/timers")]
    assert seen == [str(s) for s in reversed(subjects)]


def test_handler_modules_come_from_the_settings_and_a_missing_one_stops_the_worker() -> None:
    assert registry.load_handlers(Settings(timer_handler_modules=[])) == list(
        registry.HANDLER_MODULES
    )
    assert "sla.clock" in timers.known_kinds()
    with pytest.raises(ModuleNotFoundError):
        registry.load_handlers(Settings(timer_handler_modules=["app.no_such_handlers"]))


async def test_a_wake_up_out_of_time_hands_the_rest_to_a_new_job(
    clock: FixedClock, flaky: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky["broken"] = False
    async with open_uow() as uow:
        for _ in range(150):
            await timers.schedule(uow, FLAKY, uuid.uuid4(), clock.now() + timedelta(minutes=10))
    clock.set(clock.now() + timedelta(minutes=10))
    monkeypatch.setattr(jobs, "FIRE_BUDGET_SECONDS", 0.0)
    slot = timers.slot_of(clock.now())
    assert await jobs.fire_timers({}, slot) == "fired 100, more due"
    pool = await get_pool()
    more = f"{timers.wake_job_id(slot)}:more100"
    assert await pool.exists(f"arq:job:{more}")
    await pool.delete(f"arq:job:{more}")
    await pool.zrem("arq:queue", more)
    monkeypatch.setattr(jobs, "FIRE_BUDGET_SECONDS", 10.0)
    assert await jobs.fire_timers({}, slot) == "fired 50"
    assert len(flaky["fired"]) == 150


async def test_contention_is_retried_without_counting_towards_death(
    clock: FixedClock, app: Any
) -> None:
    import asyncpg

    @timers.handler("test.busy")
    async def busy(uow: Any, timer: timers.DueTimer, now: datetime) -> None:
        raise asyncpg.LockNotAvailableError("canceling statement due to lock timeout")

    subject = uuid.uuid4()
    try:
        async with open_uow() as uow:
            await timers.schedule(uow, "test.busy", subject, clock.now())
        for _ in range(10):  # more than TIMER_MAX_ATTEMPTS
            async with open_uow() as uow:
                batch = await firing.fire_due(uow)
            assert len(batch.failed) == 1 and not batch.dead
            clock.set(clock.now() + timedelta(seconds=5))
    finally:
        timers.unregister("test.busy")
    async with open_uow() as uow:
        row = (
            await uow.session.execute(
                text("SELECT state, attempts, last_error FROM timers WHERE subject_id = :s"),
                {"s": subject},
            )
        ).one()
    assert (row.state, row.attempts) == ("pending", 0)
    assert row.last_error.startswith("LockNotAvailableError")


async def test_the_previous_releases_writes_keep_fire_at_with_due_at(
    clock: FixedClock, app: Any
) -> None:
    """During a rolling deploy the previous release inserts and moves timers without
    `fire_at`: a trigger keeps it equal to `due_at` (revision 0005)."""
    due = clock.now() + timedelta(minutes=5)
    async with open_uow() as uow:
        timer_id = (
            await uow.session.execute(
                text(
                    "INSERT INTO timers (id, kind, subject_id, due_at, version, state,"
                    " created_at, updated_at) VALUES (:id, 'test.old', :s, :due, 1, 'pending',"
                    " :now, :now) RETURNING id"
                ),
                {"id": uuid.uuid4(), "s": uuid.uuid4(), "due": due, "now": clock.now()},
            )
        ).scalar_one()
    later = due + timedelta(minutes=1)
    async with open_uow() as uow:
        await uow.session.execute(
            text("UPDATE timers SET due_at = :d, version = version + 1 WHERE id = :i"),
            {"d": later, "i": timer_id},
        )
    async with open_uow() as uow:
        row = (
            await uow.session.execute(
                text("SELECT fire_at, attempts FROM timers WHERE id = :i"), {"i": timer_id}
            )
        ).one()
    assert (row.fire_at, row.attempts) == (later, 0)
    # And the previous release's per-timer job still wakes a worker.
    assert await jobs.fire_timer({}, str(timer_id), 2) == "fired 0"
