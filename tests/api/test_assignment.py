"""Assignment through the API with a pinned clock: who the rules choose and why, load
counts that stay exact through the lifecycle and under concurrent assignment, automatic
assignment at creation, secondary owners and handoffs (with their overdue timer), and
"not now" by the primary owner."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.people.models import Absence, Team
from app.timers import firing
from tests.api.conftest import WORKDAY_MORNING as NOW
from tests.api.conftest import (
    create_ticket,
    engineer_counts,
    engineer_on_shift,
    key_id,
    ticket_events,
)
from tests.conftest import issue_key
from tests.factories import World


@pytest.fixture
def clock_start() -> datetime:
    # A weekday morning: the engineers' shifts are on.
    return NOW


# --- choosing ------------------------------------------------------------------------------


async def test_auto_assign_picks_the_least_loaded_engineer_on_duty_and_says_why(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    busy, _ = await engineer_on_shift(client, world.branch_id, name="王磊")
    idle, _ = await engineer_on_shift(client, world.branch_id, name="李强")
    off, _ = await engineer_on_shift(
        client, world.branch_id, name="夜班张", shift=(time(22), time(6))
    )
    l2, _ = await engineer_on_shift(client, world.branch_id, name="二线陈", line="l2")
    unskilled, _ = await engineer_on_shift(
        client, world.branch_id, name="赵敏", skills=(("category", "software"),)
    )
    async with open_uow() as uow:
        await uow.session.execute(
            text("UPDATE engineers SET open_load = 5 WHERE id = :i"), {"i": busy}
        )
    t = await create_ticket(client, admin, world)  # P1, switch, hardware
    r = await client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["owner_id"] == str(idle) and body["status"] == "assigned"
    assert r.headers["ETag"]
    assigned = [
        e for e in await ticket_events(client, admin, t["id"]) if e["type"] == "ticket.assigned"
    ]
    data = assigned[-1]["data"]
    assert data["mode"] == "auto" and data["rule"] == "least_load"
    assert data["considered"] == 2  # off shift, wrong line and no skill are not candidates
    assert [c["engineer_id"] for c in data["candidates"]] == [str(idle), str(busy)]
    assert {off, l2, unskilled}.isdisjoint(
        {uuid.UUID(c["engineer_id"]) for c in data["candidates"]}
    )
    assert await engineer_counts(idle) == (1, 4)  # a P1 weighs 4
    # The outbox announces it.
    async with open_uow() as uow:
        n = (
            await uow.session.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE aggregate_id = :t AND event_type = 'ticket.assigned'"
                ),
                {"t": t["id"]},
            )
        ).scalar_one()
    assert n == 1


async def test_same_branch_then_nearest_then_longest_idle(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    async with open_uow() as uow:
        await uow.session.execute(
            text("UPDATE branches SET region = '华东' WHERE id = :b"), {"b": world.branch_id}
        )
        far = (
            await uow.session.execute(
                text(
                    "INSERT INTO branches (id, code, name, region, timezone, version, created_at,"
                    " updated_at) VALUES (:i, :c, '成都分公司', '西南', 'Asia/Shanghai', 1, now(),"
                    " now()) RETURNING id"
                ),
                {"i": uuid.uuid4(), "c": f"CD{uuid.uuid4().hex[:6]}"},
            )
        ).scalar_one()
        near = (
            await uow.session.execute(
                text("INSERT INTO branches (id, code, name, region, timezone, version, created_at,"
                     " updated_at) VALUES (:i, :c, '杭州分公司', '华东', 'Asia/Shanghai', 1, now(),"
                     " now()) RETURNING id"),
                {"i": uuid.uuid4(), "c": f"HZ{uuid.uuid4().hex[:6]}"},
            )
        ).scalar_one()  # fmt: skip
    far_eng, _ = await engineer_on_shift(client, far, name="成都刘")
    near_eng, _ = await engineer_on_shift(client, near, name="杭州周")
    t = await create_ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=admin)
    assert r.json()["owner_id"] == str(near_eng)
    rule = [
        e for e in await ticket_events(client, admin, t["id"]) if e["type"] == "ticket.assigned"
    ][-1]
    assert rule["data"]["rule"] == "nearest_branch"
    assert [c["branch"] for c in rule["data"]["candidates"]] == ["near", "other"]
    # Two of the same branch with the same load: the one assigned longest ago.
    a, _ = await engineer_on_shift(client, world.branch_id, name="甲")
    b, _ = await engineer_on_shift(client, world.branch_id, name="乙")
    async with open_uow() as uow:
        await uow.session.execute(
            text("UPDATE engineers SET last_assigned_at = :t WHERE id = :i"),
            {"t": NOW - timedelta(hours=1), "i": a},
        )
        await uow.session.execute(
            text("UPDATE engineers SET last_assigned_at = :t WHERE id = :i"),
            {"t": NOW - timedelta(hours=3), "i": b},
        )
    t2 = await create_ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{t2['id']}/auto-assign", headers=admin)
    assert r.json()["owner_id"] == str(b)
    rule = [
        e for e in await ticket_events(client, admin, t2["id"]) if e["type"] == "ticket.assigned"
    ][-1]
    assert rule["data"]["rule"] == "longest_since_last_assignment"
    _ = far_eng


async def test_auto_assign_never_makes_the_secondary_owner_primary(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    only, _ = await engineer_on_shift(client, world.branch_id, name="李强")
    t = await create_ticket(client, admin, world)
    r = await client.put(f"/v1/tickets/{t['id']}/secondary-owner",
                         json={"secondary_owner_id": str(only)}, headers=admin)  # fmt: skip
    assert r.status_code == 200
    r = await client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=admin)
    assert r.status_code == 409  # the only one on duty is the secondary owner


async def test_nobody_on_duty_is_a_clear_409_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    eid, _ = await engineer_on_shift(client, world.branch_id)
    async with open_uow() as uow:
        uow.session.add(Absence(engineer_id=eid, starts_at=NOW - timedelta(hours=1),
                                ends_at=NOW + timedelta(hours=8), reason="年假"))  # fmt: skip
    # Scoped to another branch: cannot see the ticket, so not a candidate either.
    await engineer_on_shift(client, world.branch_id, name="北京某", scope=world.other_branch_id)
    t = await create_ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=admin)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/no-engineer-available")
    got = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert got["owner_id"] is None and got["status"] == "new"
    agent = await issue_key("agent")
    assert (
        await client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=agent)
    ).status_code == 403


# --- load ------------------------------------------------------------------------------------


async def test_load_follows_the_ticket_through_its_lifecycle(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    a, ah = await engineer_on_shift(client, world.branch_id, name="甲")
    b, _ = await engineer_on_shift(client, world.branch_id, name="乙")
    t = await create_ticket(client, admin, world)  # P1
    tid = t["id"]

    async def act(
        action: str, body: dict[str, Any] | None = None, h: dict[str, str] = admin
    ) -> None:
        r = await client.post(f"/v1/tickets/{tid}/{action}", json=body or {}, headers=h)
        assert r.status_code == 200, r.text

    await act("assign", {"owner_id": str(a)})
    assert await engineer_counts(a) == (1, 4)
    r = await client.patch(f"/v1/tickets/{tid}", json={"priority": "P3"}, headers=admin)
    assert r.status_code == 200
    assert await engineer_counts(a) == (1, 2)
    await act("assign", {"owner_id": str(b), "reason": "甲休假"})
    assert await engineer_counts(a) == (0, 0) and await engineer_counts(b) == (1, 2)
    ev = [e for e in await ticket_events(client, admin, tid) if e["type"] == "ticket.assigned"][-1]
    assert ev["data"]["reason"] == "甲休假" and ev["data"]["mode"] == "manual"
    await act("start")
    await act("resolve", {"resolution_summary": "更换电源模块"})
    assert await engineer_counts(b) == (0, 0)  # resolved: no longer open
    await act("reopen", {"reason": "故障复现"})
    assert await engineer_counts(b) == (1, 2)
    await act("cancel", {"reason": "客户撤单"})
    assert await engineer_counts(b) == (0, 0)
    _ = ah


async def test_an_engineer_at_maximum_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    full, _ = await engineer_on_shift(client, world.branch_id, max_load=1)
    t1 = await create_ticket(client, admin, world)
    t2 = await create_ticket(client, admin, world)
    r = await client.post(
        f"/v1/tickets/{t1['id']}/assign", json={"owner_id": str(full)}, headers=admin
    )
    assert r.status_code == 200
    r = await client.post(
        f"/v1/tickets/{t2['id']}/assign", json={"owner_id": str(full)}, headers=admin
    )
    assert r.status_code == 409
    assert r.json()["type"].endswith("/at-maximum-load") and r.json()["max_load"] == 1
    got = (await client.get(f"/v1/tickets/{t2['id']}", headers=admin)).json()
    assert got["owner_id"] is None and got["version"] == t2["version"]
    assert await engineer_counts(full) == (1, 4)
    r = await client.post(f"/v1/tickets/{t2['id']}/auto-assign", headers=admin)
    assert r.status_code == 409  # the only candidate is full


async def test_concurrent_assignments_never_exceed_the_maximum(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    eid, _ = await engineer_on_shift(client, world.branch_id, max_load=3)
    tickets = [await create_ticket(client, admin, world) for _ in range(8)]
    half = len(tickets) // 2
    results = await asyncio.gather(
        *[client.post(f"/v1/tickets/{t['id']}/auto-assign", headers=admin) for t in tickets[:half]],
        *[client.post(f"/v1/tickets/{t['id']}/assign", json={"owner_id": str(eid)}, headers=admin)
          for t in tickets[half:]],
    )  # fmt: skip
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 3 + [409] * 5, [r.text for r in results]
    assert await engineer_counts(eid) == (3, 12)
    async with open_uow() as uow:
        owned = (
            await uow.session.execute(
                text("SELECT count(*) FROM tickets WHERE owner_id = :e"), {"e": eid}
            )
        ).scalar_one()
    assert owned == 3


# --- at creation --------------------------------------------------------------------------------


async def test_a_policy_can_assign_new_tickets_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    r = await client.patch("/v1/sla-policies/7x24", json={"auto_assign": True}, headers=admin)
    assert r.status_code == 200 and r.json()["auto_assign"] is True
    t = await create_ticket(client, admin, world)  # nobody yet: stays new, and the timeline says so
    assert t["owner_id"] is None and t["status"] == "new"
    assert "ticket.assignment_failed" in [
        e["type"] for e in await ticket_events(client, admin, t["id"])
    ]
    eid, _ = await engineer_on_shift(client, world.branch_id)
    t = await create_ticket(client, admin, world)
    assert t["owner_id"] == str(eid) and t["status"] == "assigned"
    assert {c["metric"] for c in t["sla"]} == {"first_response", "onsite", "resolution"}
    ev = [e for e in await ticket_events(client, admin, t["id"]) if e["type"] == "ticket.assigned"]
    assert ev[0]["data"]["trigger"] == "creation"
    assert await engineer_counts(eid) == (1, 4)
    # Uncontracted (basic) tickets are not auto-assigned.
    t = await create_ticket(client, admin, world, device_id=str(world.bare_device_id))
    assert t["owner_id"] is None


# --- secondary owner and handoffs ------------------------------------------------------------


async def test_handoff_to_the_secondary_reported_back_and_overdue_alert(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    from app.timers.registry import load_handlers

    load_handlers()  # every kind's handler, as the worker has (whatever ran before)
    primary, ph = await engineer_on_shift(
        client, world.branch_id, name="王磊", scope=world.branch_id
    )
    second, sh = await engineer_on_shift(
        client, world.branch_id, name="李强", scope=world.branch_id
    )
    _other, oh = await engineer_on_shift(
        client, world.branch_id, name="赵敏", scope=world.branch_id
    )
    # A P4 (no on-site clock, a day to respond, ten to resolve): no SLA breach falls in
    # the hours this test moves the clock through, so no escalation hands the ticket on
    # (it did, once escalation's timer handler happened to be registered by an earlier
    # test module).
    t = await create_ticket(client, admin, world, impact="low", urgency="low")
    tid = t["id"]
    r = await client.post(
        f"/v1/tickets/{tid}/assign", json={"owner_id": str(primary)}, headers=admin
    )
    # Started: its first response met.
    assert (await client.post(f"/v1/tickets/{tid}/start", json={}, headers=ph)).status_code == 200
    r = await client.put(f"/v1/tickets/{tid}/secondary-owner",
                         json={"secondary_owner_id": str(primary)}, headers=admin)  # fmt: skip
    assert r.status_code == 422  # not the primary too
    r = await client.put(f"/v1/tickets/{tid}/secondary-owner",
                         json={"secondary_owner_id": str(second)}, headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["secondary_owner_id"] == str(second)
    until = NOW + timedelta(hours=2)
    body = {"what": "今晚到机房更换主控板", "until": until.isoformat()}
    assert (
        await client.post(f"/v1/tickets/{tid}/handoffs", json=body, headers=oh)
    ).status_code == 403
    r = await client.post(f"/v1/tickets/{tid}/handoffs", json=body, headers=ph)
    assert r.status_code == 201, r.text
    h1 = r.json()
    assert (h1["to_id"], h1["state"]) == (str(second), "open")
    assert (
        await client.post(f"/v1/tickets/{tid}/handoffs", json=body, headers=ph)
    ).status_code == 409
    # Past its time, unreported: the timer raises an alert on the timeline and the outbox.
    clock.set(until + timedelta(seconds=1))
    async with open_uow() as uow:
        assert (await firing.fire_due(uow)).fired >= 1
    events = await ticket_events(client, admin, tid)
    overdue = [e for e in events if e["type"] == "ticket.handoff_overdue"]
    assert len(overdue) == 1 and overdue[0]["actor_role"] == "system"
    report = {"report": "主控板已更换,业务恢复"}
    url = f"/v1/tickets/{tid}/handoffs/{h1['id']}/report"
    assert (await client.post(url, json=report, headers=oh)).status_code == 403
    r = await client.post(url, json=report, headers=sh)
    assert r.status_code == 200 and r.json()["state"] == "reported"
    assert (await client.post(url, json=report, headers=sh)).status_code == 409
    reported = [
        e for e in await ticket_events(client, admin, tid) if e["type"] == "ticket.handoff_reported"
    ]
    assert reported[0]["data"]["late"] is True
    listed = (await client.get(f"/v1/tickets/{tid}/handoffs", headers=admin)).json()
    assert [h["state"] for h in listed] == ["reported"] and listed[0]["overdue_at"]
    # A reported handoff's timer is gone: nothing fires again.
    clock.set(until + timedelta(hours=1))
    async with open_uow() as uow:
        await firing.fire_due(uow)
    assert (
        len(
            [
                e
                for e in await ticket_events(client, admin, tid)
                if e["type"] == "ticket.handoff_overdue"
            ]
        )
        == 1
    )
    # A handoff reported in time cancels its timer before it fires.
    r = await client.post(f"/v1/tickets/{tid}/handoffs",
                          json={"what": "远程检查日志", "until": (clock.now() + timedelta(hours=1)).isoformat()},
                          headers=ph)  # fmt: skip
    assert r.status_code == 201, r.text
    h2 = r.json()
    r = await client.post(f"/v1/tickets/{tid}/handoffs/{h2['id']}/report", json=report, headers=sh)
    assert r.status_code == 200
    async with open_uow() as uow:
        state = (
            await uow.session.execute(
                text("SELECT state FROM timers WHERE subject_id = :h"), {"h": h2["id"]}
            )
        ).scalar_one()
    assert state == "cancelled"


# --- not now -------------------------------------------------------------------------------------


async def test_not_now_keeps_the_ticket_when_the_sla_can_wait_else_hands_it_on(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    manager = await issue_key("manager")
    manager_id = await key_id(client, manager)
    async with open_uow() as uow:
        team = Team(code="L1SH", name="上海一线组", line="l1", branch_id=world.branch_id,
                    manager_id=manager_id)  # fmt: skip
        uow.session.add(team)
        await uow.session.flush()
        team_id = team.id
    primary, ph = await engineer_on_shift(
        client, world.branch_id, team_id=team_id, scope=world.branch_id
    )
    second, _ = await engineer_on_shift(client, world.branch_id, name="李强", scope=world.branch_id)
    t = await create_ticket(client, admin, world, priority="P4", impact=None, urgency=None)
    tid = t["id"]
    await client.post(f"/v1/tickets/{tid}/assign", json={"owner_id": str(primary)}, headers=admin)
    # P4: the first response is due in a business day; an hour's deferral is fine.
    r = await client.post(f"/v1/tickets/{tid}/defer",
                          json={"until": (NOW + timedelta(hours=1)).isoformat(), "reason": "在处理P1"},
                          headers=ph)  # fmt: skip
    assert r.status_code == 200 and r.json()["owner_id"] == str(primary)
    assert "ticket.deferred" in [e["type"] for e in await ticket_events(client, admin, tid)]
    # A P1 cannot wait three hours: it goes to the secondary owner.
    p1 = await create_ticket(client, admin, world)
    await client.post(
        f"/v1/tickets/{p1['id']}/assign", json={"owner_id": str(primary)}, headers=admin
    )
    await client.put(f"/v1/tickets/{p1['id']}/secondary-owner",
                     json={"secondary_owner_id": str(second)}, headers=admin)  # fmt: skip
    later = {"until": (NOW + timedelta(hours=3)).isoformat(), "reason": "在另一现场"}
    r = await client.post(f"/v1/tickets/{p1['id']}/defer", json=later, headers=ph)
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == str(second) and r.json()["secondary_owner_id"] is None
    ev = [
        e for e in await ticket_events(client, admin, p1["id"]) if e["type"] == "ticket.assigned"
    ][-1]
    assert ev["data"]["rule"] == "sla_cannot_wait" and ev["data"]["to"] == "secondary"
    assert await engineer_counts(second) == (1, 4) and await engineer_counts(primary) == (1, 1)
    # No secondary: the primary's team manager.
    p1b = await create_ticket(client, admin, world)
    await client.post(
        f"/v1/tickets/{p1b['id']}/assign", json={"owner_id": str(primary)}, headers=admin
    )
    r = await client.post(f"/v1/tickets/{p1b['id']}/defer", json=later, headers=ph)
    assert r.json()["owner_id"] == str(manager_id)
    # Nobody to take it: a 409 and nothing changed.
    lone, lh = await engineer_on_shift(client, world.branch_id, name="孤", scope=world.branch_id)
    p1c = await create_ticket(client, admin, world)
    await client.post(
        f"/v1/tickets/{p1c['id']}/assign", json={"owner_id": str(lone)}, headers=admin
    )
    r = await client.post(f"/v1/tickets/{p1c['id']}/defer", json=later, headers=lh)
    assert r.status_code == 409
    got = (await client.get(f"/v1/tickets/{p1c['id']}", headers=admin)).json()
    assert got["owner_id"] == str(lone)
    assert "ticket.deferred" not in [
        e["type"] for e in await ticket_events(client, admin, p1c["id"])
    ]
    # Only the primary owner (or a dispatcher) defers; the time must be ahead.
    r = await client.post(f"/v1/tickets/{tid}/defer", json=later, headers=lh)
    assert r.status_code == 403
    past = {"until": (NOW - timedelta(hours=1)).isoformat(), "reason": "x"}
    assert (await client.post(f"/v1/tickets/{tid}/defer", json=past, headers=ph)).status_code == 422


async def test_open_handoffs_end_when_the_ticket_changes_hands_by_hand(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.assignment.timers  # noqa: F401

    primary, ph = await engineer_on_shift(client, world.branch_id, name="王磊")
    second, _ = await engineer_on_shift(client, world.branch_id, name="李强")
    other, _ = await engineer_on_shift(client, world.branch_id, name="赵敏")
    tid = (await create_ticket(client, admin, world))["id"]
    await client.post(f"/v1/tickets/{tid}/assign", json={"owner_id": str(primary)}, headers=admin)
    await client.post(f"/v1/tickets/{tid}/start", json={}, headers=ph)
    until = NOW + timedelta(hours=1)
    r = await client.post(f"/v1/tickets/{tid}/handoffs", headers=ph,
                          json={"what": "现场更换电源", "to_id": str(second),
                                "until": until.isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/tickets/{tid}/assign", headers=admin,
                          json={"owner_id": str(other), "reason": "原负责人休假"})  # fmt: skip
    assert r.status_code == 200, r.text
    listed = (await client.get(f"/v1/tickets/{tid}/handoffs", headers=admin)).json()
    assert [h["state"] for h in listed] == ["cancelled"]
    ended = [
        e
        for e in await ticket_events(client, admin, tid)
        if e["type"] == "ticket.handoff_cancelled"
    ]
    assert ended[0]["data"]["reason"] == "owner_changed"
    clock.set(until + timedelta(seconds=1))
    async with open_uow() as uow:
        await firing.fire_due(uow)
    types = [e["type"] for e in await ticket_events(client, admin, tid)]
    assert "ticket.handoff_overdue" not in types
