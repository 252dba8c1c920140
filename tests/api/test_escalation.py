"""Escalation through the API: by hand along the lines, the R&D workflow with its
permissions (only managers approve, only R&D's manager accepts or rejects), the vendor,
the Nth failed attempt, SLA warnings and breaches through the timers (functional and
hierarchical), and a timer racing a person: one escalation, not two."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import Clock, FixedClock, set_clock
from app.core.db import open_uow
from app.people.models import Engineer, Team
from app.timers import firing
from tests.api.conftest import (
    WORKDAY_MORNING,
    create_ticket,
    engineer_counts,
    engineer_on_shift,
    key_id,
    ticket_events,
)
from tests.conftest import issue_key
from tests.factories import World

WORK_ORDER = {
    "environment": "S12700E-8, V8.2.1, 双主控热备",
    "steps": "1. 配置VRRP 2. 主备倒换 3. 观察BFD会话",
    "symptoms": "倒换后BFD会话震荡,业务中断约30秒",
}


async def _line(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> str:
    return str((await client.get(f"/v1/tickets/{tid}", headers=h)).json()["support_line"])


async def _fire_all() -> int:
    fired = 0
    while True:
        async with open_uow() as uow:
            batch = await firing.fire_due(uow, 100)
        fired += batch.fired
        if batch.taken == 0:
            return fired


async def test_by_hand_up_the_lines_to_rd_with_approval_and_back(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    engineer = await issue_key("engineer")
    manager = await issue_key("manager")
    rd_manager = await issue_key("manager")
    rd_engineer_h = await issue_key("engineer")
    rd_engineer = await key_id(client, rd_engineer_h)
    l2_engineer = await issue_key("engineer")
    async with open_uow() as uow:
        uow.session.add(Team(code="RD", name="研发支持部", line="l3", branch_id=world.branch_id,
                             manager_id=await key_id(client, rd_manager)))  # fmt: skip
        uow.session.add(
            Engineer(id=rd_engineer, name="研发刘", line="l3", branch_id=world.branch_id)
        )
        uow.session.add(Engineer(id=await key_id(client, l2_engineer), name="二线陈", line="l2",
                                 branch_id=world.branch_id))  # fmt: skip
        uow.session.add(Team(code="L2", name="专业服务中心", line="l2", branch_id=world.branch_id,
                             manager_id=await key_id(client, manager)))  # fmt: skip
    t = await create_ticket(client, admin, world)
    tid = t["id"]
    base = f"/v1/tickets/{tid}/escalations"
    r = await client.post(base, json={"reason": "一线无法定位"}, headers=engineer)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["from_line"], first["to_line"], first["state"]) == ("l1", "l2", "closed")
    assert await _line(client, admin, tid) == "l2"
    # To R&D: a work order is required.
    r = await client.post(base, json={"reason": "疑似软件缺陷"}, headers=engineer)
    assert r.status_code == 422 and r.json()["missing"] == ["environment", "steps", "symptoms"]
    r = await client.post(base, json={"reason": "疑似软件缺陷", "to_line": "l1"}, headers=engineer)
    assert r.status_code == 422  # escalation goes up
    r = await client.post(base, json={"reason": "疑似软件缺陷", "work_order": WORK_ORDER},
                          headers=engineer)  # fmt: skip
    assert r.status_code == 201 and r.json()["state"] == "requested"
    eid = r.json()["id"]
    assert await _line(client, admin, tid) == "l2"  # not before R&D accepts
    r = await client.post(base, json={"reason": "再次", "work_order": WORK_ORDER}, headers=engineer)
    assert r.status_code == 409  # one open escalation at a time
    approve, accept = f"{base}/{eid}/approve", f"{base}/{eid}/accept"
    assert (await client.post(approve, headers=engineer)).status_code == 403  # managers approve
    not_yet = await client.post(accept, json={"rd_owner_id": str(rd_engineer)}, headers=rd_manager)
    assert not_yet.status_code == 409  # not approved yet
    r = await client.post(approve, headers=manager)
    assert r.status_code == 200 and r.json()["state"] == "approved"
    # Only R&D's manager accepts; the owner must be an R&D engineer.
    assert (await client.post(accept, json={"rd_owner_id": str(rd_engineer)},
                              headers=manager)).status_code == 403  # fmt: skip
    r = await client.post(accept, json={"rd_owner_id": str(await key_id(client, l2_engineer))},
                          headers=rd_manager)  # fmt: skip
    assert r.status_code == 422
    r = await client.post(accept, json={"rd_owner_id": str(rd_engineer)}, headers=rd_manager)
    assert r.status_code == 200 and r.json()["rd_owner_id"] == str(rd_engineer)
    assert await _line(client, admin, tid) == "l3"
    # R&D proposes closure; the requester refuses once, then confirms.
    propose = f"{base}/{eid}/propose-closure"
    assert (await client.post(propose, json={"note": "x"}, headers=engineer)).status_code == 403
    r = await client.post(propose, json={"note": "补丁已验证"}, headers=rd_engineer_h)
    assert r.json()["state"] == "closure_proposed"
    answer = f"{base}/{eid}/answer-closure"
    r = await client.post(answer, json={"confirm": False, "note": "客户仍有告警"}, headers=engineer)
    assert r.json()["state"] == "accepted"
    await client.post(propose, json={"note": "第二个补丁"}, headers=rd_engineer_h)
    r = await client.post(answer, json={"confirm": True}, headers=engineer)
    assert r.json()["state"] == "closed" and r.json()["closed_at"]
    assert await _line(client, admin, tid) == "l2"
    types = [e["type"] for e in await ticket_events(client, admin, tid)]
    for kind in ("ticket.escalated", "ticket.escalation_requested", "ticket.escalation_approved",
                 "ticket.escalation_closure_proposed", "ticket.escalation_closure_refused",
                 "ticket.escalation_closed"):  # fmt: skip
        assert kind in types
    listed = (await client.get(base, headers=admin)).json()
    assert [e["state"] for e in listed] == ["closed", "closed"]


async def test_rejected_back_with_advice_and_the_vendor(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    base = f"/v1/tickets/{t['id']}/escalations"
    await client.post(base, json={"reason": "一线"}, headers=admin)
    r = await client.post(
        base, json={"reason": "疑似缺陷", "work_order": WORK_ORDER}, headers=admin
    )
    eid = r.json()["id"]
    r = await client.post(f"{base}/{eid}/reject", json={"advice": "请先升级到V8.2.3后复测"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert await _line(client, admin, t["id"]) == "l2"
    advice = [e for e in await ticket_events(client, admin, t["id"])
              if e["type"] == "ticket.escalation_rejected"]  # fmt: skip
    assert advice[0]["data"]["advice"] == "请先升级到V8.2.3后复测"
    r = await client.post(base, json={"reason": "厂商协助", "to_line": "vendor"}, headers=admin)
    assert r.status_code == 422  # name the vendor
    r = await client.post(base, json={"reason": "厂商协助", "to_line": "vendor", "vendor": "华为",
                                      "vendor_case_ref": "HW-2026-001234"}, headers=admin)  # fmt: skip
    assert r.status_code == 201 and r.json()["vendor_case_ref"] == "HW-2026-001234"
    assert await _line(client, admin, t["id"]) == "vendor"
    r = await client.post(base, json={"reason": "更上"}, headers=admin)
    assert r.status_code == 409  # nothing above the vendor
    agent = await issue_key("agent")
    assert (await client.post(base, json={"reason": "x"}, headers=agent)).status_code == 403


async def test_the_third_failed_attempt_escalates_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    await client.post(f"/v1/tickets/{t['id']}/start", json={}, headers=admin)
    for i in range(4):
        r = await client.post(f"/v1/tickets/{t['id']}/attempts",
                              json={"kind": "fix", "description": f"第{i + 1}次尝试更换电源",
                                    "outcome": "failed"}, headers=admin)  # fmt: skip
        assert r.status_code == 201, r.text
        assert await _line(client, admin, t["id"]) == ("l1" if i < 2 else "l2")
    listed = (await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()
    assert [(e["trigger"], e["to_line"]) for e in listed] == [("failed_attempts", "l2")]


async def test_sla_warning_and_breach_escalate_through_the_timers(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.escalation.timers
    import app.sla.timers  # noqa: F401

    manager_h = await issue_key("manager")
    manager = await key_id(client, manager_h)
    owner_h = await issue_key("engineer")
    owner = await key_id(client, owner_h)
    async with open_uow() as uow:
        team = Team(
            code="L1", name="一线组", line="l1", branch_id=world.branch_id, manager_id=manager
        )
        uow.session.add(team)
        await uow.session.flush()
        uow.session.add(Engineer(id=owner, name="王磊", line="l1", branch_id=world.branch_id,
                                 team_id=team.id))  # fmt: skip
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")  # P1 7x24: 30 min response
    await client.post(f"/v1/tickets/{t['id']}/assign", json={"owner_id": str(owner)}, headers=admin)
    clock.set(start + timedelta(minutes=23))  # past 75%: the warning, then level 1's notice
    await _fire_all()
    notices = [
        e
        for e in await ticket_events(client, admin, t["id"])
        if e["type"] == "ticket.escalation_notice"
    ]
    assert [(n["data"]["level"], n["data"]["recipients"]) for n in notices] == [(1, [str(manager)])]
    assert await _line(client, admin, t["id"]) == "l1"  # the default policy escalates on breach
    clock.set(start + timedelta(minutes=31))
    await _fire_all()
    assert await _line(client, admin, t["id"]) == "l2"
    listed = (await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()
    assert [(e["trigger"], e["to_line"], e["requested_by"]) for e in listed] == [
        ("sla_breach", "l2", None)
    ]
    notices = [
        e
        for e in await ticket_events(client, admin, t["id"])
        if e["type"] == "ticket.escalation_notice"
    ]
    assert [n["data"]["level"] for n in notices] == [1, 2]
    assert notices[1]["data"]["recipients"] == [str(manager), "role:manager"]
    # Level 3 an hour after the breach, unless the ticket is resolved by then.
    clock.set(start + timedelta(minutes=95))
    await _fire_all()
    notices = [
        e
        for e in await ticket_events(client, admin, t["id"])
        if e["type"] == "ticket.escalation_notice"
    ]
    assert [n["data"]["level"] for n in notices] == [1, 2, 3]
    async with open_uow() as uow:
        outbox = (
            await uow.session.execute(
                text("SELECT count(*) FROM outbox WHERE aggregate_id = :t"
                     " AND event_type IN ('ticket.escalated', 'ticket.escalation_notice')"),
                {"t": t["id"]},
            )
        ).scalar_one()  # fmt: skip
    assert outbox == 4  # one escalation, three notices
    # A second ticket resolved before level 3 is due gets no level 3.
    t2 = await create_ticket(client, admin, world, service_type="remote")
    clock.set(clock.now() + timedelta(minutes=31))
    await _fire_all()
    await client.post(f"/v1/tickets/{t2['id']}/start", json={}, headers=admin)
    await client.post(f"/v1/tickets/{t2['id']}/resolve", json={"resolution_summary": "已恢复"},
                      headers=admin)  # fmt: skip
    clock.set(clock.now() + timedelta(hours=2))
    await _fire_all()
    levels = [e["data"]["level"] for e in await ticket_events(client, admin, t2["id"])
              if e["type"] == "ticket.escalation_notice"]  # fmt: skip
    assert 3 not in levels


async def test_a_breach_timer_racing_a_person_makes_one_escalation(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.escalation.timers
    import app.sla.timers  # noqa: F401

    start = clock.now()
    tickets = [await create_ticket(client, admin, world, service_type="remote") for _ in range(6)]
    clock.set(start + timedelta(minutes=31))  # warnings and breaches due together
    async with open_uow() as uow:
        await firing.fire_due(uow, 100)  # the announcements: escalation timers now due
    results = await asyncio.gather(
        _fire_all(),
        *[client.post(f"/v1/tickets/{t['id']}/escalations",
                      json={"reason": "客户投诉", "to_line": "l2"}, headers=admin)
          for t in tickets],
    )  # fmt: skip
    for r in results[1:]:
        assert r.status_code in (201, 422), r.text  # 422: the timer moved it to l2 first
    for t in tickets:
        listed = (await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()
        assert len(listed) == 1 and listed[0]["to_line"] == "l2", listed
        assert await _line(client, admin, t["id"]) == "l2"


async def test_policies_per_service_level_drive_the_triggers(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.escalation.timers
    import app.sla.timers  # noqa: F401

    agent = await issue_key("agent")
    body = {"failed_attempts": 0, "functional_on": "warning",
            "notify_levels": [{"level": 1, "after": "breach", "delay_minutes": 10,
                               "recipients": ["role:manager"]}]}  # fmt: skip
    assert (
        await client.put("/v1/escalation-policies/7x24", json=body, headers=agent)
    ).status_code == 403
    r = await client.put("/v1/escalation-policies/gold", json=body, headers=admin)
    assert r.status_code == 422  # no such service level
    bad = {**body, "notify_levels": [{"level": 1, "after": "breach", "recipients": ["boss"]}]}
    assert (
        await client.put("/v1/escalation-policies/7x24", json=bad, headers=admin)
    ).status_code == 422
    r = await client.put("/v1/escalation-policies/7x24", json=body, headers=admin)
    assert r.status_code == 201, r.text
    etag = r.headers["ETag"]
    r = await client.put(
        "/v1/escalation-policies/7x24", json=body, headers={**admin, "If-Match": '"99"'}
    )
    assert r.status_code == 412
    r = await client.put(
        "/v1/escalation-policies/7x24", json=body, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    listed = (await client.get("/v1/escalation-policies", headers=agent)).json()["items"]
    assert [p["service_level"] for p in listed] == ["7x24"]
    # Failed attempts never escalate under it; the SLA warning does.
    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")  # 7x24
    for _ in range(3):  # (not started: the first response clock runs on)
        await client.post(f"/v1/tickets/{t['id']}/attempts",
                          json={"kind": "fix", "description": "重启", "outcome": "failed"},
                          headers=admin)  # fmt: skip
    assert await _line(client, admin, t["id"]) == "l1"
    clock.set(start + timedelta(minutes=23))
    await _fire_all()
    listed = (await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()
    assert [e["trigger"] for e in listed] == ["sla_warning"]
    # Uncontracted tickets keep the default (here: the built-in one).
    u = await create_ticket(client, admin, world, device_id=str(world.bare_device_id))
    assert u["service_level"] != "7x24"


async def test_an_open_rd_escalation_makes_the_automatic_trigger_a_notice(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{t['id']}/escalations",
                          json={"reason": "直接提交研发", "to_line": "l3", "work_order": WORK_ORDER},
                          headers=admin)  # fmt: skip
    assert r.status_code == 201 and r.json()["state"] == "requested"
    await client.post(f"/v1/tickets/{t['id']}/start", json={}, headers=admin)
    for i in range(3):  # the third failed attempt must not fail on the open escalation
        r = await client.post(f"/v1/tickets/{t['id']}/attempts",
                              json={"kind": "fix", "description": f"尝试{i}", "outcome": "failed"},
                              headers=admin)  # fmt: skip
        assert r.status_code == 201, r.text
    types = [e["type"] for e in await ticket_events(client, admin, t["id"])]
    assert "ticket.escalation_due" in types
    assert len((await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()) == 1


async def test_a_breach_found_by_a_ticket_change_escalates_too(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    import app.escalation.timers
    import app.sla.timers  # noqa: F401

    start = clock.now()
    t = await create_ticket(client, admin, world, service_type="remote")  # 30 min first response
    clock.set(start + timedelta(minutes=35))  # no worker ran: its timer has not fired
    r = await client.post(f"/v1/tickets/{t['id']}/acknowledge", json={}, headers=admin)
    assert {c["metric"]: c["status"] for c in r.json()["sla"]}["first_response"] == "breached"
    await _fire_all()
    listed = (await client.get(f"/v1/tickets/{t['id']}/escalations", headers=admin)).json()
    assert [(e["trigger"], e["to_line"]) for e in listed] == [("sla_breach", "l2")]
    # Resolved late: nothing to escalate any more.
    t2 = await create_ticket(client, admin, world, service_type="remote")
    clock.set(clock.now() + timedelta(hours=5))
    await client.post(f"/v1/tickets/{t2['id']}/start", json={}, headers=admin)
    await client.post(f"/v1/tickets/{t2['id']}/resolve", json={"resolution_summary": "恢复"},
                      headers=admin)  # fmt: skip
    await _fire_all()
    assert (await client.get(f"/v1/tickets/{t2['id']}/escalations", headers=admin)).json() == []


# --- issue 9: separation of duties, and who owns an escalated ticket ----------------------


async def _team(line: str, manager: uuid.UUID, branch: uuid.UUID) -> uuid.UUID:
    async with open_uow() as uow:
        team = Team(code=f"T{line}{uuid.uuid4().hex[:4]}", name=f"{line}组", line=line,
                    branch_id=branch, manager_id=manager)  # fmt: skip
        uow.session.add(team)
        await uow.session.flush()
    return team.id


async def _rd_request(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> str:
    r = await client.post(f"/v1/tickets/{tid}/escalations",
                          json={"reason": "疑似软件缺陷", "to_line": "l3", "work_order": WORK_ORDER},
                          headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    return f"/v1/tickets/{tid}/escalations/{r.json()['id']}"


async def test_approval_is_the_requesting_lines_and_acceptance_the_receiving_ones(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    l1_manager, rd_manager, both = [await issue_key("manager") for _ in range(3)]
    plain_manager = await issue_key("manager")
    await _team("l1", await key_id(client, l1_manager), world.branch_id)
    await _team("l3", await key_id(client, rd_manager), world.branch_id)
    await _team("l1", await key_id(client, both), world.branch_id)
    await _team("l3", await key_id(client, both), world.branch_id)
    rd_h = await issue_key("engineer")
    rd = await key_id(client, rd_h)
    async with open_uow() as uow:
        uow.session.add(Engineer(id=rd, name="研发刘", line="l3", branch_id=world.branch_id))
    t = await create_ticket(client, admin, world)
    base = await _rd_request(client, admin, t["id"])  # from line 1
    prefix = "https://supportline.dev/problems/"
    # R&D's manager may not approve what is addressed to his own line; nor a manager of none.
    for h in (rd_manager, plain_manager):
        r = await client.post(f"{base}/approve", headers=h)
        assert r.status_code == 403 and r.json()["type"] == prefix + "not-requesting-line-manager"
    r = await client.post(f"{base}/approve", headers=l1_manager)
    assert r.status_code == 200 and r.json()["state"] == "approved"
    r = await client.post(f"{base}/accept", json={"rd_owner_id": str(rd)}, headers=l1_manager)
    assert r.status_code == 403 and r.json()["type"] == prefix + "not-receiving-line-manager"
    r = await client.post(f"{base}/accept", json={"rd_owner_id": str(rd)}, headers=rd_manager)
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    # R&D's owner proposes the closure but may not confirm it himself.
    await client.post(f"{base}/propose-closure", json={"note": "补丁已验证"}, headers=rd_h)
    r = await client.post(f"{base}/answer-closure", json={"confirm": True}, headers=rd_h)
    assert r.status_code == 403 and r.json()["type"] == prefix + "separation-of-duties"
    # One person managing both lines (or an admin) approves, then may not decide.
    for h in (both, admin):
        t2 = await create_ticket(client, admin, world)
        base2 = await _rd_request(client, admin, t2["id"])
        assert (await client.post(f"{base2}/approve", headers=h)).status_code == 200
        for action, body in (("accept", {"rd_owner_id": str(rd)}), ("reject", {"advice": "x"})):
            r = await client.post(f"{base2}/{action}", json=body, headers=h)
            assert r.status_code == 403 and r.json()["type"] == prefix + "separation-of-duties"
        r = await client.post(f"{base2}/accept", json={"rd_owner_id": str(rd)}, headers=rd_manager)
        assert r.status_code == 200


async def test_an_escalated_ticket_changes_hands_and_the_previous_owner_follows(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    set_clock(FixedClock(WORKDAY_MORNING))
    try:
        await _changes_hands(client, admin, world, engineer_on_shift)
    finally:
        set_clock(Clock())


async def _changes_hands(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, engineer: Any
) -> None:
    b = world.branch_id
    l2_manager, rd_manager = await issue_key("manager"), await issue_key("manager")
    await _team("l2", await key_id(client, l2_manager), b)
    await _team("l3", await key_id(client, rd_manager), b)
    a, ah = await engineer(client, b, name="一线王")
    s, _ = await engineer(client, b, name="一线李", shift=None)
    l2, l2h = await engineer(client, b, name="二线陈", line="l2")
    await engineer(client, b, name="二线夜班", line="l2", shift=(time(22), time(6)))
    rd, rdh = await engineer(client, b, name="研发刘", line="l3", shift=None, max_load=1)
    t = await create_ticket(client, admin, world)  # P1: weighs 4
    tid = t["id"]
    await client.post(f"/v1/tickets/{tid}/assign", json={"owner_id": str(a)}, headers=admin)
    await client.post(f"/v1/tickets/{tid}/start", json={}, headers=ah)
    await client.put(f"/v1/tickets/{tid}/secondary-owner", json={"secondary_owner_id": str(s)},
                     headers=admin)  # fmt: skip
    r = await client.post(f"/v1/tickets/{tid}/handoffs", headers=ah,
                          json={"what": "现场更换电源", "until": (NOW_PLUS(2)).isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    # l1 -> l2: line 2's rules choose the engineer on duty; the l1 owner follows.
    r = await client.post(f"/v1/tickets/{tid}/escalations", json={"reason": "一线无法定位"},
                          headers=ah)  # fmt: skip
    assert r.status_code == 201, r.text
    got = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    assert (got["support_line"], got["owner_id"], got["secondary_owner_id"], got["status"]) == (
        "l2",
        str(l2),
        str(a),
        "in_progress",
    )
    assert await engineer_counts(a) == (0, 0) and await engineer_counts(l2) == (1, 4)
    handoffs = (await client.get(f"/v1/tickets/{tid}/handoffs", headers=admin)).json()
    assert [h["state"] for h in handoffs] == ["cancelled"]
    events = await ticket_events(client, admin, tid)
    types = [e["type"] for e in events]
    assert types[-4:] == ["ticket.escalated", "ticket.assigned", "ticket.handoff_cancelled",
                          "ticket.secondary_assigned"]  # fmt: skip
    assigned = events[-3]
    assert assigned["data"]["mode"] == "escalation" and assigned["data"]["reason"] == "一线无法定位"
    assert assigned["data"]["previous_owner_id"] == str(a)
    # To R&D: the named R&D engineer owns it, the l2 owner follows; at his maximum: 409.
    base = await _rd_request(client, l2h, tid)
    assert (await client.post(f"{base}/approve", headers=l2_manager)).status_code == 200
    full = await create_ticket(client, admin, world)
    async with open_uow() as uow:
        await uow.session.execute(text("UPDATE engineers SET open_tickets = 1 WHERE id = :i"),
                                  {"i": rd})  # fmt: skip
    r = await client.post(f"{base}/accept", json={"rd_owner_id": str(rd)}, headers=rd_manager)
    assert r.status_code == 409 and r.json()["type"].endswith("at-maximum-load")
    assert (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()["owner_id"] == str(l2)
    async with open_uow() as uow:
        await uow.session.execute(text("UPDATE engineers SET open_tickets = 0 WHERE id = :i"),
                                  {"i": rd})  # fmt: skip
    r = await client.post(f"{base}/accept", json={"rd_owner_id": str(rd)}, headers=rd_manager)
    assert r.status_code == 200, r.text
    got = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    assert (got["support_line"], got["owner_id"], got["secondary_owner_id"]) == (
        "l3",
        str(rd),
        str(l2),
    )
    assert await engineer_counts(l2) == (0, 0) and await engineer_counts(rd) == (1, 4)
    # Closure confirmed by the follower: back to him on line 2.
    await client.post(f"{base}/propose-closure", json={"note": "补丁已验证"}, headers=rdh)
    r = await client.post(f"{base}/answer-closure", json={"confirm": True}, headers=l2h)
    assert r.status_code == 200, r.text
    got = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    assert (got["support_line"], got["owner_id"], got["secondary_owner_id"]) == (
        "l2",
        str(l2),
        str(rd),
    )
    assert await engineer_counts(l2) == (1, 4) and await engineer_counts(rd) == (0, 0)
    # The vendor is no line of ours: the owner stays.
    r = await client.post(f"/v1/tickets/{tid}/escalations", headers=l2h,
                          json={"reason": "厂商协助", "to_line": "vendor", "vendor": "华为"})  # fmt: skip
    assert r.status_code == 201
    assert (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()["owner_id"] == str(l2)
    # Nobody on line 2 can take another: unassigned, in line 2's queue; the owner follows.
    await client.post(f"/v1/tickets/{full['id']}/assign", json={"owner_id": str(a)}, headers=admin)
    async with open_uow() as uow:
        await uow.session.execute(text("UPDATE engineers SET max_load = 1 WHERE id = :i"),
                                  {"i": l2})  # fmt: skip
    r = await client.post(f"/v1/tickets/{full['id']}/escalations", json={"reason": "x"},
                          headers=ah)  # fmt: skip
    assert r.status_code == 201
    got = (await client.get(f"/v1/tickets/{full['id']}", headers=admin)).json()
    assert (got["owner_id"], got["secondary_owner_id"], got["status"]) == (None, str(a),
                                                                          "assigned")  # fmt: skip
    last = (await ticket_events(client, admin, full["id"]))[-2]
    assert last["type"] == "ticket.unassigned" and last["data"]["rule"] == "no_engineer_available"
    assert await engineer_counts(a) == (0, 0)


def NOW_PLUS(hours: int) -> datetime:
    return WORKDAY_MORNING + timedelta(hours=hours)
