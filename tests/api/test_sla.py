"""SLA clocks through the API with a pinned clock: started with the ticket, paused by
waiting on the customer, stopped by what meets them, recomputed by a priority change
(paused time stays excluded), restarted by a reopen; warnings and breaches fired by their
timers; the list's SLA filters; the policies API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.calendars.businesstime import add
from app.calendars.holiday_source import china_5x8
from app.core.clock import Clock, FixedClock, set_clock
from app.core.db import open_uow
from app.timers import firing, jobs, scheduler
from app.timers import service as timers
from tests.api.conftest import create_ticket
from tests.conftest import issue_key
from tests.factories import World

CST = timedelta(hours=8)


@pytest.fixture(autouse=True)
def _only_sla_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count what the SLA's timers fire: the kinds other domains register in
    this process (escalation notices after a warning, ...) are left out."""
    import app.sla.timers  # noqa: F401

    kept = {k: v for k, v in timers._handlers.items() if k == "sla.clock"}
    monkeypatch.setattr(timers, "_handlers", kept)


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


async def _act(client: httpx.AsyncClient, h: dict[str, str], tid: str, action: str,
               body: dict[str, Any] | None = None) -> Any:  # fmt: skip
    r = await client.post(f"/v1/tickets/{tid}/{action}", json=body or {}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def _clocks(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/tickets/{tid}/clocks", headers=h)
    assert r.status_code == 200, r.text
    return {c["metric"]: c for c in r.json()}


async def _timers(clock_id: str) -> dict[str, Any]:
    async with open_uow() as uow:
        rows = await uow.session.execute(
            text("SELECT kind, due_at, state, version, id FROM timers WHERE subject_id = :c"),
            {"c": clock_id},
        )
        return {r[0]: r for r in rows}
    return {}


async def test_p1_on_7x24_starts_three_clocks_with_timers(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    t = await create_ticket(client, admin, world)  # P1 (high x high), on-site, 7x24 contract
    now = clock.now()
    brief = {c["metric"]: c for c in t["sla"]}
    assert set(brief) == {"first_response", "onsite", "resolution"}
    assert _at(brief["first_response"]["due_at"]) == now + timedelta(minutes=30)
    assert _at(brief["onsite"]["due_at"]) == now + timedelta(hours=2)
    assert _at(brief["resolution"]["due_at"]) == now + timedelta(hours=4)
    assert _at(brief["resolution"]["warn_at"]) == now + timedelta(hours=3)  # 75%
    got = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert got["sla"] == t["sla"]
    clocks = await _clocks(client, admin, t["id"])
    fr = clocks["first_response"]
    assert fr["status"] == "running" and fr["used_seconds"] == 0
    assert fr["remaining_seconds"] == 1800
    assert [s["kind"] for s in fr["segments"]] == ["running"]
    # One timer per clock, due at its next announcement: the warning point (75%).
    tm = await _timers(fr["id"])
    assert set(tm) == {"sla.clock"}
    assert tm["sla.clock"][1] == now + timedelta(minutes=22, seconds=30)
    assert tm["sla.clock"][2] == "pending"
    # A remote ticket has no on-site clock.
    remote = await create_ticket(client, admin, world, service_type="remote")
    assert {c["metric"] for c in remote["sla"]} == {"first_response", "resolution"}


async def test_business_hours_clock_crosses_the_spring_festival(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    # Uncontracted -> basic policy; P3 first response is one business day (540 min) on
    # cn-5x8. Fri 2026-02-13 16:00 +08: 2 h that Friday, and Sat 14 Feb is an adjusted
    # working day (调休), so it falls due Sat 16:00, not after the holiday.
    set_clock(FixedClock(datetime(2026, 2, 13, 8, 0, tzinfo=UTC)))
    try:
        t = await create_ticket(
            client, admin, world, device_id=str(world.bare_device_id), priority="P3",
            service_type="remote",
        )  # fmt: skip
    finally:
        set_clock(Clock())
    assert t["service_level"] == "basic"
    brief = {c["metric"]: c for c in t["sla"]}
    assert _at(brief["first_response"]["due_at"]) == datetime(2026, 2, 14, 8, 0, tzinfo=UTC)
    # Five business days of resolution skip the whole break (15-23 Feb) and resume on
    # the 24th: the same figure the calendar engine gives.
    expected = add(china_5x8(), datetime(2026, 2, 13, 8, 0, tzinfo=UTC), timedelta(hours=45))
    assert _at(brief["resolution"]["due_at"]) == expected
    assert expected > datetime(2026, 2, 24, tzinfo=UTC)


async def test_wait_on_customer_pauses_and_resume_excludes_the_pause(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world)
    clock.set(start + timedelta(minutes=10))
    await _act(client, admin, t["id"], "start")  # meets the first response
    clock.set(start + timedelta(minutes=20))
    waiting = await _act(client, admin, t["id"], "wait", {"on": "customer"})
    brief = {c["metric"]: c for c in waiting["sla"]}
    assert brief["first_response"]["status"] == "met"
    assert brief["resolution"]["status"] == "paused" and brief["resolution"]["due_at"] is None
    res_id = (await _clocks(client, admin, t["id"]))["resolution"]["id"]
    assert {r[2] for r in (await _timers(res_id)).values()} == {"cancelled"}

    clock.set(start + timedelta(hours=5))  # past the original 4 h, but paused for 4h40
    resumed = await _act(client, admin, t["id"], "resume")
    res = {c["metric"]: c for c in resumed["sla"]}["resolution"]
    assert res["status"] == "running"
    # 20 min used before the pause: 220 min left from the resume.
    assert _at(res["due_at"]) == start + timedelta(hours=5, minutes=220)
    clocks = await _clocks(client, admin, t["id"])
    segs = clocks["resolution"]["segments"]
    assert [(s["kind"], s["reason"]) for s in segs] == [
        ("running", "created"),
        ("paused", "waiting_customer"),
        ("running", "resumed"),
    ]
    assert segs[0]["business_seconds"] == 1200
    assert clocks["resolution"]["used_seconds"] == 1200
    tm = await _timers(res_id)
    # Re-armed for the new warning point, as a new version (a job for the old is stale).
    assert tm["sla.clock"][2] == "pending" and tm["sla.clock"][3] >= 3
    assert tm["sla.clock"][1] == start + timedelta(hours=5, minutes=160)


async def test_waiting_on_parts_does_not_pause(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    from tests.api.partskit import make_part, make_warehouse, receive

    t = await create_ticket(client, admin, world)
    await _act(client, admin, t["id"], "start")
    # A ticket waits on parts only while a part request is open (the parts domain).
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 1)
    r = await client.post(f"/v1/tickets/{t['id']}/part-requests", headers=admin,
                          json={"lines": [{"part_id": part["id"]}]})  # fmt: skip
    assert r.status_code == 201, r.text
    w = await _act(client, admin, t["id"], "wait", {"on": "parts"})
    assert {c["metric"]: c["status"] for c in w["sla"]}["resolution"] == "running"


async def test_priority_change_recomputes_from_the_start_keeping_pauses_excluded(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")  # P1: resolution 4 h
    clock.set(start + timedelta(minutes=30))
    await _act(client, admin, t["id"], "start")
    await _act(client, admin, t["id"], "wait", {"on": "customer"})
    clock.set(start + timedelta(hours=3))
    await _act(client, admin, t["id"], "resume")
    clock.set(start + timedelta(hours=3, minutes=30))
    # Downgraded to P2 (24 h on the 7x24 policy): 30 + 30 = 60 min used, the 2.5 h
    # pause is not; so 23 h remain from now.
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"urgency": "medium"}, headers=admin)
    assert r.status_code == 200 and r.json()["priority"] == "P2", r.text
    res = {c["metric"]: c for c in r.json()["sla"]}["resolution"]
    assert res["target_seconds"] == 24 * 3600
    assert _at(res["due_at"]) == start + timedelta(hours=3, minutes=30) + timedelta(hours=23)
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()
    recomputed = [e for e in events["items"] if e["type"] == "sla.recomputed"]
    assert recomputed[0]["data"]["targets"]["resolution"] == {
        "from_seconds": 4 * 3600,
        "to_seconds": 24 * 3600,
    }


async def test_reopen_restarts_resolution_where_it_stopped(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")
    await _act(client, admin, t["id"], "start")
    clock.set(start + timedelta(minutes=100))
    resolved = await _act(client, admin, t["id"], "resolve", {"resolution_summary": "ok"})
    assert {c["metric"]: c["status"] for c in resolved["sla"]} == {
        "first_response": "met",
        "resolution": "met",
    }
    clock.set(start + timedelta(days=1))  # the days it stayed resolved do not count
    reopened = await _act(client, admin, t["id"], "reopen", {"reason": "复现"})
    res = {c["metric"]: c for c in reopened["sla"]}["resolution"]
    assert res["status"] == "running"
    assert _at(res["due_at"]) == start + timedelta(days=1, minutes=140)
    # Resolved too late this time: a breach, even though no timer fired yet.
    clock.set(start + timedelta(days=1, minutes=200))
    again = await _act(client, admin, t["id"], "resolve", {"resolution_summary": "ok"})
    assert {c["metric"]: c["status"] for c in again["sla"]}["resolution"] == "breached"
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    assert [e["type"] for e in events if e["type"].startswith("sla.")] == ["sla.breached"]


async def test_public_reply_and_visit_meet_their_targets(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world)
    integ = await issue_key("integration")
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments", json={"body": "客户追问进度"}, headers=integ
    )
    assert r.status_code == 201
    assert (await _clocks(client, admin, t["id"]))["first_response"]["status"] == "running"
    clock.set(start + timedelta(minutes=5))
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "内部备注", "visibility": "internal"},
        headers=admin,
    )
    assert (await _clocks(client, admin, t["id"]))["first_response"]["status"] == "running"
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments", json={"body": "已收到,工程师正在分析"}, headers=admin
    )
    assert r.status_code == 201
    fr = (await _clocks(client, admin, t["id"]))["first_response"]
    assert fr["status"] == "met" and _at(fr["stopped_at"]) == start + timedelta(minutes=5)
    await _act(client, admin, t["id"], "start")
    clock.set(start + timedelta(hours=3))
    arrived = start + timedelta(minutes=90)  # logged afterwards: met at arrival
    r = await client.post(
        f"/v1/tickets/{t['id']}/visits",
        json={"arrived_at": arrived.isoformat()},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    onsite = (await _clocks(client, admin, t["id"]))["onsite"]
    assert onsite["status"] == "met" and onsite["used_seconds"] == 90 * 60


async def _fire_due(now: datetime) -> int:
    """What a worker's wake-up does at `now`: fire every due timer, a batch at a time."""
    import app.sla.timers  # noqa: F401  (registers the SLA handlers, as the worker does)

    fired = 0
    while True:
        async with open_uow() as uow:
            batch = await firing.fire_due(uow, 100)
        fired += batch.fired
        if batch.taken < 100:
            return fired


async def test_warning_and_breach_fire_once_and_feed_the_list_filters(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")
    calm = await create_ticket(client, admin, world, service_type="remote", priority="P4")

    def listed(params: dict[str, str]) -> Any:
        return client.get("/v1/tickets", params=params, headers=admin)

    due = (start + timedelta(minutes=31)).isoformat()
    assert [i["id"] for i in (await listed({"due_before": due})).json()["items"]] == [t["id"]]
    clock.set(start + timedelta(minutes=25))  # past 75% of the 30 min first response
    assert [i["id"] for i in (await listed({"sla": "at_risk"})).json()["items"]] == [t["id"]]
    assert await _fire_due(clock.now()) == 1  # the warning, re-armed for the due time
    assert await _fire_due(clock.now()) == 0  # nothing twice
    fr = (await _clocks(client, admin, t["id"]))["first_response"]
    assert (await _timers(fr["id"]))["sla.clock"][1] == start + timedelta(minutes=30)
    clock.set(start + timedelta(minutes=31))
    assert await _fire_due(clock.now()) == 1  # the breach
    assert await _fire_due(clock.now()) == 0
    assert [i["id"] for i in (await listed({"sla": "breached"})).json()["items"]] == [t["id"]]
    assert calm["id"] not in [i["id"] for i in (await listed({"sla": "at_risk"})).json()["items"]]
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    sla_events = [e for e in events if e["type"].startswith("sla.")]
    assert [e["type"] for e in sla_events] == ["sla.warning", "sla.breached"]
    assert sla_events[1]["data"]["metric"] == "first_response"
    assert sla_events[1]["actor_role"] == "system"
    async with open_uow() as uow:
        outbox = (
            (
                await uow.session.execute(
                    text(
                        "SELECT event_type FROM outbox WHERE aggregate_id = :t "
                        "AND event_type LIKE 'sla.%' ORDER BY id"
                    ),
                    {"t": t["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert outbox == ["sla.warning", "sla.breached"]
    # Meeting it late keeps the breach.
    late = await _act(client, admin, t["id"], "acknowledge")
    assert {c["metric"]: c["status"] for c in late["sla"]}["first_response"] == "breached"
    r = await client.get("/v1/tickets", params={"sla": "late"}, headers=admin)
    assert r.status_code == 422


async def test_a_stale_timer_job_does_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.sla.timers  # noqa: F401

    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")
    fr = (await _clocks(client, admin, t["id"]))["first_response"]
    old = (await _timers(fr["id"]))["sla.clock"]
    await _act(client, admin, t["id"], "acknowledge")  # stops the clock: timers cancelled
    clock.set(start + timedelta(hours=1))
    async with open_uow() as uow:
        assert (await firing.fire_due(uow, ids=[old[4], uuid.uuid4()])).taken == 0
    assert await _fire_due(clock.now()) == 0
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    assert not [e for e in events if e["type"].startswith("sla.")]


# --- policies -----------------------------------------------------------------------------


async def test_policies_are_seeded_and_editable_by_managers(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get("/v1/sla-policies", headers=admin)
    assert r.status_code == 200
    by_level = {p["service_level"]: p for p in r.json()["items"]}
    assert set(by_level) == {"7x24", "5x8", "basic"}
    p1 = {(x["priority"], x["metric"]): x for x in by_level["7x24"]["targets"]}
    assert p1[("P1", "first_response")]["minutes"] == 30
    assert p1[("P1", "first_response")]["calendar_code"] == "24x7"
    assert p1[("P4", "first_response")]["calendar_code"] == "cn-5x8"
    assert by_level["7x24"]["pause_on_vendor"] is True

    got = await client.get("/v1/sla-policies/5x8", headers=admin)
    etag = got.headers["etag"]
    targets = [
        {"priority": "P1", "metric": "first_response", "minutes": 20, "calendar_code": "cn-5x8"},
        {"priority": "P1", "metric": "resolution", "minutes": 180, "calendar_code": "24x7"},
    ]
    engineer = await issue_key("engineer")
    r = await client.patch("/v1/sla-policies/5x8", json={"targets": targets}, headers=engineer)
    assert r.status_code == 403
    bad = [*targets, targets[0]]
    r = await client.patch("/v1/sla-policies/5x8", json={"targets": bad}, headers=admin)
    assert r.status_code == 422
    r = await client.patch(
        "/v1/sla-policies/5x8",
        json={"targets": [{**targets[0], "calendar_code": "no-such"}]},
        headers=admin,
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
    r = await client.patch(
        "/v1/sla-policies/5x8", json={"targets": targets}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["targets"]) == 2 and r.json()["version"] == 2
    r = await client.patch(
        "/v1/sla-policies/5x8", json={"name": "x"}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 412
    assert (await client.get("/v1/sla-policies/nope", headers=admin)).status_code == 404
    r = await client.post(
        "/v1/sla-policies",
        json={"service_level": "5x8", "name": "dup", "targets": targets},
        headers=admin,
    )
    assert r.status_code == 409
    r = await client.post(
        "/v1/sla-policies",
        json={"service_level": "gold", "name": "金牌", "targets": targets},
        headers=admin,
    )
    assert r.status_code == 422  # no such service level


async def test_scheduler_pass_hands_over_due_timers_once_and_lost_ones_again(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    from app.core.queue import get_pool

    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")
    fr = (await _clocks(client, admin, t["id"]))["first_response"]
    # The warning is 22.5 min away: outside the 5 min horizon, nothing is handed over.
    async with open_uow() as uow:
        assert await scheduler.schedule_due(uow) == 0
    clock.set(start + timedelta(minutes=20))
    async with open_uow() as uow:
        assert await scheduler.schedule_due(uow) == 1
    tm = (await _timers(fr["id"]))["sla.clock"]
    wake = f"arq:job:{timers.wake_job_id(timers.slot_of(tm[1]))}"
    pool = await get_pool()
    assert await pool.exists(wake)
    assert timers.slot_time(timers.slot_of(tm[1])) - tm[1] < timedelta(milliseconds=250)
    async with open_uow() as uow:
        assert await scheduler.schedule_due(uow) == 0  # already handed over
    # The job is lost (Redis flushed): once overdue by the grace, a worker is woken again.
    await pool.delete(wake)
    await pool.zrem("arq:queue", wake.removeprefix("arq:job:"))
    clock.set(start + timedelta(minutes=22, seconds=31))
    async with open_uow() as uow:
        assert await scheduler.schedule_due(uow) == 0  # due, but not yet past the grace
    assert not await pool.keys("arq:job:timers:wake:retry:*")
    clock.set(start + timedelta(minutes=22, seconds=40))
    async with open_uow() as uow:
        assert await scheduler.schedule_due(uow) == 0  # nothing new to hand over ...
    retries = await pool.keys("arq:job:timers:wake:retry:*")
    assert len(retries) == 1  # ... but one wake-up for the whole overdue backlog
    async with open_uow() as uow:
        await scheduler.schedule_due(uow)
    assert await pool.keys("arq:job:timers:wake:retry:*") == retries  # once per grace period
    await pool.delete(*retries)
    await pool.zrem("arq:queue", *[r.decode().removeprefix("arq:job:") for r in retries])
    assert await _fire_due(clock.now()) == 1


async def test_a_wake_up_before_its_slot_goes_back_to_sleep(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    from app.core.queue import get_pool

    slot = timers.slot_of(clock.now() + timedelta(minutes=1))
    # This worker's clock is behind the one that set the timer: woken again at the slot.
    assert await jobs.fire_timers({}, slot) == "early"
    pool = await get_pool()
    early = f"{timers.wake_job_id(slot)}:early"
    assert await pool.exists(f"arq:job:{early}")
    await pool.delete(f"arq:job:{early}")
    await pool.zrem("arq:queue", early)
    clock.set(clock.now() + timedelta(minutes=1))
    assert await jobs.fire_timers({}, slot) == "fired 0"


async def test_jobs_for_long_overdue_timers_can_be_enqueued(app: Any) -> None:
    # ARQ computes a job key's expiry from the deferral; a time long past must not
    # produce a negative expiry (Redis refuses it and the whole scheduler pass failed).
    from app.core import queue

    pool = await queue.get_pool()
    jid = f"test-overdue:{uuid.uuid4()}"
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    assert await queue.enqueue_many([("noop", (1,), jid, long_ago)]) == 1
    assert await queue.enqueue("noop", 1, job_id=jid + "b", defer_until=long_ago)
    assert await pool.exists(f"arq:job:{jid}") and await pool.exists(f"arq:job:{jid}b")
    await pool.delete(f"arq:job:{jid}", f"arq:job:{jid}b")
    await pool.zrem("arq:queue", jid, jid + "b")


async def test_recompute_counts_the_past_on_the_new_calendar(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    # P3 on the 7x24 contract runs in business hours (cn-5x8); raised to P1 (24x7) on
    # Saturday morning, the night and the Saturday count: 16.5 h used, far past 4 h.
    friday = datetime(2026, 11, 20, 17, 30, tzinfo=UTC) - CST
    fixed = FixedClock(friday)
    set_clock(fixed)
    try:
        t = await create_ticket(client, admin, world, priority="P3", service_type="remote")
        assert t["service_level"] == "7x24"
        fixed.set(friday + timedelta(hours=16, minutes=30))
        r = await client.patch(f"/v1/tickets/{t['id']}", json={"priority": "P1"}, headers=admin)
        assert r.status_code == 200, r.text
        clocks = await _clocks(client, admin, t["id"])
    finally:
        set_clock(Clock())
    res = clocks["resolution"]
    assert res["target_seconds"] == 4 * 3600
    assert res["used_seconds"] == 16 * 3600 + 1800
    assert _at(res["due_at"]) == fixed.now()  # overdue: its timer fires at once
    assert [g["reason"] for g in res["segments"]] == ["created", "recomputed"]


async def test_metrics_that_start_to_apply_start_with_the_tickets_pauses(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    t = await create_ticket(client, admin, world, priority="P4")  # on-site, but P4 has no on-site
    assert {c["metric"] for c in t["sla"]} == {"first_response", "resolution"}
    await _act(client, admin, t["id"], "start")
    clock.set(start + timedelta(minutes=10))
    await _act(client, admin, t["id"], "wait", {"on": "customer"})
    clock.set(start + timedelta(minutes=70))
    await _act(client, admin, t["id"], "resume")
    clock.set(start + timedelta(minutes=80))
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"priority": "P1"}, headers=admin)
    assert r.status_code == 200, r.text
    onsite = (await _clocks(client, admin, t["id"]))["onsite"]
    assert onsite["status"] == "running" and onsite["target_seconds"] == 7200
    assert onsite["used_seconds"] == 20 * 60  # 80 min since creation minus the 60 min pause
    assert _at(onsite["due_at"]) == start + timedelta(minutes=80 + 100)
    # Switching to remote service cancels it; the timeline says what changed.
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"service_type": "remote"}, headers=admin)
    assert r.status_code == 200
    assert {c["metric"]: c["status"] for c in r.json()["sla"]}["onsite"] == "cancelled"
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    recomputed = [e["data"]["targets"] for e in events if e["type"] == "sla.recomputed"]
    assert recomputed[-1] == {"onsite": {"from_seconds": 7200, "to_seconds": None}}
    assert recomputed[0]["onsite"] == {"from_seconds": None, "to_seconds": 7200}


async def test_due_timers_fire_in_batches_and_a_failing_handler_backs_off_then_dies(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.sla.timers  # noqa: F401

    start = clock.now()
    tickets = [await create_ticket(client, admin, world, service_type="remote") for _ in range(3)]

    @timers.handler("test.broken")
    async def broken(uow: Any, timer: Any, now: datetime) -> None:
        await uow.session.execute(text("UPDATE timers SET kind = kind"))  # undone with it
        raise RuntimeError("boom")

    subject = uuid.uuid4()
    async with open_uow() as uow:
        await timers.schedule(uow, "test.broken", subject, start + timedelta(minutes=1))

    async def broken_row() -> Any:
        async with open_uow() as uow:
            row = (
                await uow.session.execute(
                    text(
                        "SELECT state, attempts, due_at, fire_at, last_error, version "
                        "FROM timers WHERE subject_id = :s"
                    ),
                    {"s": subject},
                )
            ).one()
        return row

    clock.set(start + timedelta(minutes=25))  # every first-response warning is due
    try:
        async with open_uow() as uow:
            batch = await firing.fire_due(uow, 100)
        # The batch failed as a whole, then fired one by one: only the broken one fails.
        assert (batch.taken, batch.fired, len(batch.failed)) == (4, 3, 1)
        for t in tickets:
            fr = (await _clocks(client, admin, t["id"]))["first_response"]
            assert fr["warned_at"] is not None  # warned, and re-armed for the due time
        row = await broken_row()
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.due_at == start + timedelta(minutes=1)  # the due time stays the truth
        assert row.fire_at == clock.now() + timedelta(seconds=5)
        assert row.last_error == "RuntimeError: boom"
        assert await _fire_due(clock.now()) == 0  # not again before its backoff
        # Backing off 5, 10, 20 ... s; given up after TIMER_MAX_ATTEMPTS (8) in a row.
        for attempt in range(2, 9):
            clock.set((await broken_row()).fire_at)
            async with open_uow() as uow:
                batch = await firing.fire_due(uow, 100)
            assert len(batch.failed) == 1  # (the clocks' breaches fire meanwhile)
            row = await broken_row()
            assert row.attempts == attempt
        assert row.state == "dead" and batch.dead == batch.failed
        clock.set(clock.now() + timedelta(days=1))
        await _fire_due(clock.now())  # the resolution clocks' warnings, not the dead one
        assert (await broken_row()).attempts == 8
    finally:
        timers.unregister("test.broken")


async def test_late_announcements_are_stamped_when_they_fell_due(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """A timer that fires late (the workers were down), or a change that stops a clock
    after its due time before the timer fired, stamps the warning and the breach with
    the instant each fell due, in the clock and on the timeline; not when noticed."""
    start = clock.now()
    late = await create_ticket(client, admin, world, service_type="remote")
    stopped = await create_ticket(client, admin, world, service_type="remote")
    planned = {
        t["id"]: (_at(fr["warn_at"]), _at(fr["due_at"]))
        for t in (late, stopped)
        for fr in [(await _clocks(client, admin, t["id"]))["first_response"]]
    }
    clock.set(start + timedelta(hours=3))  # past both points of the 30 min first response
    await _act(client, admin, stopped["id"], "acknowledge")  # before any timer fired
    assert await _fire_due(clock.now()) >= 1
    for tid in (late["id"], stopped["id"]):
        due_at = planned[tid][1]
        fr = (await _clocks(client, admin, tid))["first_response"]
        assert fr["status"] == "breached"
        assert _at(fr["breached_at"]) == due_at
        events = (await client.get(f"/v1/tickets/{tid}/events", headers=admin)).json()["items"]
        breach = [e for e in events if e["type"] == "sla.breached"]
        assert [_at(e["at"]) for e in breach] == [due_at]
    async with open_uow() as uow:
        row = (
            await uow.session.execute(
                text("SELECT warned_at FROM ticket_clocks WHERE ticket_id = :t AND metric = "
                     "'first_response'"),
                {"t": late["id"]},
            )
        ).one()  # fmt: skip
    assert row[0] == planned[late["id"]][0]


async def test_a_clock_falling_due_changes_the_tickets_etag_but_not_its_version(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """A poll with If-None-Match must not answer 304 over a breach the client has not
    seen, and the ETag read after the breach still works for If-Match."""
    t = await create_ticket(client, admin, world)  # P1: first response due in 30 minutes
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    before = r.headers["etag"]
    assert before == f'W/"{t["version"]}"'
    cached = await client.get(f"/v1/tickets/{t['id']}", headers={**admin, "If-None-Match": before})
    assert cached.status_code == 304
    clock.set(clock.now() + timedelta(minutes=31))
    assert await _fire_due(clock.now()) >= 1  # the first response's breach
    r = await client.get(f"/v1/tickets/{t['id']}", headers={**admin, "If-None-Match": before})
    assert r.status_code == 200
    assert r.json()["version"] == t["version"]
    assert r.headers["etag"] == f'W/"{t["version"]}.b1"'
    r = await client.patch(
        f"/v1/tickets/{t['id']}",
        json={"subject": "仍在处理 / still in progress"},
        headers={**admin, "If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text


async def test_a_clock_paused_after_its_due_time_announces_the_breach(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """Waiting on the customer after the resolution fell due, before its timer fired
    (the workers were down): the breach is announced by the pause, stamped when it fell
    due, and not hidden until the clock runs again."""
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")
    clock.set(start + timedelta(minutes=10))
    await _act(client, admin, t["id"], "start")
    due_at = _at((await _clocks(client, admin, t["id"]))["resolution"]["due_at"])
    clock.set(due_at + timedelta(minutes=5))
    waiting = await _act(client, admin, t["id"], "wait", {"on": "customer"})
    brief = {c["metric"]: c for c in waiting["sla"]}
    assert brief["resolution"]["status"] == "breached"
    assert _at(brief["resolution"]["breached_at"]) == due_at
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    assert [_at(e["at"]) for e in events if e["type"] == "sla.breached"] == [due_at]
    assert await _fire_due(clock.now()) == 0  # the pause disarmed its timer: nothing twice
    events = (await client.get(f"/v1/tickets/{t['id']}/events", headers=admin)).json()["items"]
    assert len([e for e in events if e["type"] == "sla.breached"]) == 1
