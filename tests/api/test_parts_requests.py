"""Part requests on tickets: reserved in the nearest warehouse with stock, approved when
they must be, dispatched against the part-on-site SLA, delivered, fitted from the
ledger, the defective part's return awaited; races never oversell and never reserve a
serial twice; refusals write nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from app.core.db import open_uow
from app.timers import firing
from tests.api.conftest import create_ticket, problem, ticket_events
from tests.api.partskit import make_part, make_warehouse, receive
from tests.conftest import issue_key


async def _started(client: Any, admin: dict[str, str], world: Any, **kw: Any) -> dict[str, Any]:
    t = await create_ticket(client, admin, world, **kw)
    r = await client.post(f"/v1/tickets/{t['id']}/start", json={}, headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _stock(client: Any, admin: dict[str, str], part_id: str, wh: str) -> dict[str, Any]:
    r = await client.get(f"/v1/parts/{part_id}/stock", params={"warehouse_id": wh}, headers=admin)
    assert r.status_code == 200, r.text
    rows = r.json()["warehouses"]
    return rows[0] if rows else {"on_hand": 0, "reserved": 0, "available": 0, "defective": 0}


async def _ask(client: Any, headers: dict[str, str], ticket_id: str, **body: Any) -> Any:
    return await client.post(f"/v1/tickets/{ticket_id}/part-requests", json=body, headers=headers)


async def _fire(kind: str) -> int:
    import app.parts.timers  # noqa: F401  (registered by the worker)

    async with open_uow() as uow:
        rows = await uow.session.execute(
            text("SELECT id FROM timers WHERE kind = :k AND state = 'pending'"), {"k": kind}
        )
        ids = [r[0] for r in rows.all()]
    if not ids:
        return 0
    async with open_uow() as uow:
        batch = await firing.fire_due(uow, 100, ids=ids)
    return batch.fired


async def test_the_whole_path_of_a_request(client, admin, world, clock) -> None:
    part = await make_part(client, admin)
    near = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], near["id"], 3)
    t = await _started(client, admin, world)
    created = clock.now()
    r = await _ask(client, admin, t["id"], lines=[{"part_id": part["id"]}], wait_for_parts=True,
                   note="电源模块烧毁")  # fmt: skip
    assert r.status_code == 201, r.text
    [req] = r.json()["items"]
    assert req["state"] == "approved" and req["approval_reasons"] == []
    assert req["warehouse_id"] == near["id"] and req["number"].startswith("PR")
    assert req["warranty"]["under_contract"] is True
    # P1 under 7x24: the part is due on site two hours after the request.
    assert req["due_at"].startswith((created + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    bal = await _stock(client, admin, part["id"], near["id"])
    assert (bal["on_hand"], bal["reserved"], bal["available"]) == (3, 1, 2)
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert r.json()["status"] == "waiting_parts"

    for step in ("dispatch", "deliver"):
        r = await client.post(f"/v1/part-requests/{req['id']}/{step}", json={}, headers=admin)
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "delivered"
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert r.json()["status"] == "in_progress"  # resumed when the part arrived
    clocks = {c["metric"]: c for c in r.json()["sla"]}
    assert clocks["part_onsite"]["status"] == "met"

    r = await client.post(f"/v1/part-requests/{req['id']}/fit", json={}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "fitted" and r.json()["return_due_at"]
    bal = await _stock(client, admin, part["id"], near["id"])
    assert (bal["on_hand"], bal["reserved"]) == (2, 0)
    r = await client.get("/v1/stock/movements", params={"ticket_id": t["id"]}, headers=admin)
    assert [m["kind"] for m in r.json()["items"]] == ["issue"]

    r = await client.post(f"/v1/part-requests/{req['id']}/defective-return",
                          json={"warehouse_id": near["id"]}, headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"
    assert (await _stock(client, admin, part["id"], near["id"]))["defective"] == 1
    types = [e["type"] for e in await ticket_events(client, admin, t["id"])]
    for step in ("created", "dispatched", "delivered", "fitted", "defective_returned"):
        assert f"part_request.{step}" in types
    async with open_uow() as uow:
        n = (await uow.session.execute(text(
            "SELECT count(*) FROM outbox WHERE event_type LIKE 'part_request.%'"))).scalar_one()  # fmt: skip
    assert n == 5


async def test_approval_when_uncontracted_or_above_threshold(client, admin, world) -> None:
    cheap = await make_part(client, admin)
    dear = await make_part(client, admin, unit_cost="6000.00")
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, cheap["id"], wh["id"], 2)
    await receive(client, admin, dear["id"], wh["id"], 2)
    bare = await _started(client, admin, world, device_id=str(world.bare_device_id))
    r = await _ask(client, admin, bare["id"], lines=[{"part_id": cheap["id"]}])
    [req] = r.json()["items"]
    assert req["state"] == "awaiting_approval" and req["approval_reasons"] == ["uncontracted"]
    r = await client.post(f"/v1/part-requests/{req['id']}/dispatch", json={}, headers=admin)
    assert problem(r, 409)["allowed_actions"] == ["approve", "reject", "cancel"]
    engineer = await issue_key(role="engineer")
    r = await client.post(f"/v1/part-requests/{req['id']}/approve", json={}, headers=engineer)
    problem(r, 403)
    manager = await issue_key(role="manager")
    r = await client.post(f"/v1/part-requests/{req['id']}/approve", json={"note": "同意"},
                          headers=manager)  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text

    covered = await _started(client, admin, world)
    r = await _ask(client, admin, covered["id"], lines=[{"part_id": dear["id"]}])
    [req] = r.json()["items"]
    assert req["approval_reasons"] == ["above_threshold"] and req["value"] == "6000.00"
    r = await client.post(f"/v1/part-requests/{req['id']}/reject", json={}, headers=manager)
    assert r.json()["state"] == "rejected"
    assert (await _stock(client, admin, dear["id"], wh["id"]))["reserved"] == 0


async def test_nearest_warehouse_then_409_with_where_it_is(client, admin, world) -> None:
    part = await make_part(client, admin)
    own = await make_warehouse(client, admin, world.branch_id)
    central = await make_warehouse(client, admin, world.other_branch_id, kind="central")
    await receive(client, admin, part["id"], central["id"], 2)
    t = await _started(client, admin, world)
    r = await _ask(client, admin, t["id"], lines=[{"part_id": part["id"], "quantity": 2}])
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["warehouse_id"] == central["id"]
    await receive(client, admin, part["id"], own["id"], 1)
    r = await _ask(client, admin, t["id"], lines=[{"part_id": part["id"], "quantity": 2}])
    body = problem(r, 409)
    assert body["type"].endswith("insufficient-stock") and body["requested"] == 2
    assert body["available_elsewhere"] == [{"warehouse_id": own["id"], "available": 1}] or \
        body["warehouse_id"] == own["id"]  # fmt: skip
    # Nothing written by the refusal: still one request, one unit free in own.
    r = await client.get(f"/v1/tickets/{t['id']}/part-requests", headers=admin)
    assert len(r.json()["items"]) == 1
    assert (await _stock(client, admin, part["id"], own["id"]))["available"] == 1


async def test_a_two_line_request_is_refused_whole(client, admin, world) -> None:
    a = await make_part(client, admin)
    b = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, a["id"], wh["id"], 5)
    t = await _started(client, admin, world)
    r = await _ask(client, admin, t["id"], lines=[{"part_id": a["id"]}, {"part_id": b["id"]}])
    problem(r, 409)
    assert (await _stock(client, admin, a["id"], wh["id"]))["reserved"] == 0
    r = await _ask(client, admin, t["id"], lines=[{"part_id": a["id"]}, {"part_id": a["id"]}])
    problem(r, 422)


async def test_discontinued_part_proposes_its_substitute(client, admin, world) -> None:
    new = await make_part(client, admin)
    old = await make_part(client, admin, lifecycle="discontinued", substitute_id=new["id"])
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, new["id"], wh["id"], 1)
    t = await _started(client, admin, world)
    r = await _ask(client, admin, t["id"], lines=[{"part_id": old["id"]}])
    body = problem(r, 409)
    assert body["substitute"]["id"] == new["id"]
    r = await _ask(client, admin, t["id"], lines=[{"part_id": old["id"], "use_substitute": True}])
    [req] = r.json()["items"]
    assert (req["part_id"], req["requested_part_id"]) == (new["id"], old["id"])


async def test_race_for_the_last_units(client, admin, world) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 5)
    tickets = [await _started(client, admin, world) for _ in range(12)]
    results = await asyncio.gather(
        *(_ask(client, admin, t["id"], lines=[{"part_id": part["id"]}]) for t in tickets)
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 5 + [409] * 7
    bal = await _stock(client, admin, part["id"], wh["id"])
    assert (bal["on_hand"], bal["reserved"], bal["available"]) == (5, 5, 0)


async def test_one_serial_asked_by_two_tickets_at_once(client, admin, world) -> None:
    part = await make_part(client, admin, serialised=True)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 2, serials=["S-1", "S-2"])
    t1, t2 = await _started(client, admin, world), await _started(client, admin, world)
    line = {"part_id": part["id"], "serials": ["S-1"]}
    r1, r2 = await asyncio.gather(_ask(client, admin, t1["id"], lines=[line]),
                                  _ask(client, admin, t2["id"], lines=[line]))  # fmt: skip
    assert sorted([r1.status_code, r2.status_code]) == [201, 409], (r1.text, r2.text)
    # The other serial is still free for an unnamed request.
    r = await _ask(client, admin, t2["id"], lines=[{"part_id": part["id"]}])
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["reservations"][0]["serial_id"]


async def test_multi_line_requests_in_opposite_orders_do_not_deadlock(client, admin, world) -> None:
    a = await make_part(client, admin)
    b = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, a["id"], wh["id"], 50)
    await receive(client, admin, b["id"], wh["id"], 50)
    tickets = [await _started(client, admin, world) for _ in range(10)]
    bodies = [[{"part_id": a["id"]}, {"part_id": b["id"]}],
              [{"part_id": b["id"]}, {"part_id": a["id"]}]]  # fmt: skip
    results = await asyncio.gather(
        *(_ask(client, admin, t["id"], lines=bodies[i % 2]) for i, t in enumerate(tickets))
    )
    assert [r.status_code for r in results] == [201] * 10
    assert (await _stock(client, admin, a["id"], wh["id"]))["reserved"] == 10


async def test_cancel_and_ticket_cancel_release_reservations(client, admin, world) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 4)
    t = await _started(client, admin, world)
    r = await _ask(client, admin, t["id"], lines=[{"part_id": part["id"], "quantity": 2}],
                   wait_for_parts=True)  # fmt: skip
    [req] = r.json()["items"]
    r = await client.post(f"/v1/part-requests/{req['id']}/cancel", json={"note": "不需要了"},
                          headers=admin)  # fmt: skip
    assert r.json()["state"] == "cancelled"
    assert (await _stock(client, admin, part["id"], wh["id"]))["reserved"] == 0
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert r.json()["status"] == "in_progress"
    r = await _ask(client, admin, t["id"], lines=[{"part_id": part["id"], "quantity": 3}])
    assert r.status_code == 201
    r = await client.post(f"/v1/tickets/{t['id']}/cancel", json={"reason": "客户撤单"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await _stock(client, admin, part["id"], wh["id"]))["reserved"] == 0


async def test_waiting_on_parts_needs_an_open_request(client, admin, world) -> None:
    t = await _started(client, admin, world)
    r = await client.post(f"/v1/tickets/{t['id']}/wait", json={"on": "parts"}, headers=admin)
    problem(r, 409)
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert r.json()["status"] == "in_progress"


async def test_defective_return_overdue_timer(client, admin, world, clock) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 1)
    t = await _started(client, admin, world)
    [req] = (await _ask(client, admin, t["id"], lines=[{"part_id": part["id"]}])).json()["items"]
    await client.post(f"/v1/part-requests/{req['id']}/dispatch", json={}, headers=admin)
    r = await client.post(f"/v1/part-requests/{req['id']}/fit", json={}, headers=admin)
    assert r.status_code == 200, r.text
    assert await _fire("parts.defective_return_due") == 0  # not due yet
    clock.set(clock.now() + timedelta(days=8))
    assert await _fire("parts.defective_return_due") == 1
    types = [e["type"] for e in await ticket_events(client, admin, t["id"])]
    assert "part_request.return_overdue" in types


async def test_hostile_input_and_other_branches(client, admin, world) -> None:
    part = await make_part(client, admin)
    t = await _started(client, admin, world)
    for body in (
        {}, {"lines": []}, {"lines": [{"part_id": "nope"}]},
        {"lines": [{"part_id": part["id"], "quantity": 0}]},
        {"lines": [{"part_id": part["id"]}], "note": "x\x00"},
        {"lines": [{"part_id": part["id"]}], "destination": "engineer"},
        {"lines": [{"part_id": part["id"]}] * 21},
        {"lines": [{"part_id": "0192f3c4-0000-7000-8000-000000000000"}]},
        {"lines": [{"part_id": part["id"], "warehouse_id": "0192f3c4-0000-7000-8000-000000000000"}]},
    ):  # fmt: skip
        r = await _ask(client, admin, t["id"], **body)
        assert r.status_code == 422, (body, r.text)
    other = await issue_key(role="engineer", branch_id=world.other_branch_id)
    r = await _ask(client, other, t["id"], lines=[{"part_id": part["id"]}])
    problem(r, 404)
    r = await client.get("/v1/part-requests/0192f3c4-0000-7000-8000-000000000000", headers=admin)
    problem(r, 404)


async def test_the_part_on_site_clock_warns_through_the_sla_engine(
    client, admin, world, clock
) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], wh["id"], 1)
    t = await _started(client, admin, world)
    [req] = (await _ask(client, admin, t["id"], lines=[{"part_id": part["id"]}])).json()["items"]
    import app.sla.timers  # noqa: F401  (registered by the worker)

    # 7x24 P1: on site in 120 minutes, warned at 75 %: after 91 minutes, a warning.
    clock.set(clock.now() + timedelta(minutes=91))
    await _fire("sla.clock")
    events = await ticket_events(client, admin, t["id"])
    warnings = [e for e in events if e["type"] == "sla.warning"]
    assert [w["data"]["metric"] for w in warnings].count("part_onsite") == 1, warnings
    clock.set(clock.now() + timedelta(minutes=30))
    await _fire("sla.clock")
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    clocks = {c["metric"]: c for c in r.json()["sla"]}
    assert clocks["part_onsite"]["status"] == "breached"
    # Delivered late: stopped, and breached it stays.
    for step in ("dispatch", "deliver"):
        r = await client.post(f"/v1/part-requests/{req['id']}/{step}", json={}, headers=admin)
        assert r.status_code == 200, r.text
    r = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert {c["metric"]: c for c in r.json()["sla"]}["part_onsite"]["status"] == "breached"
