"""Major incidents through the API with a pinned clock: declared by hand or automatically
(more than K P1 tickets on one product family within M minutes: one incident, later
tickets linked), status updates due on a timer, and resolution with the linked tickets."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.timers import firing
from tests.api.conftest import create_ticket
from tests.conftest import issue_key
from tests.factories import World


async def _outbox(kind: str, aggregate: str) -> list[dict[str, Any]]:
    async with open_uow() as uow:
        rows = (
            await uow.session.execute(
                text("SELECT payload FROM outbox WHERE event_type = :k AND aggregate_id = :a"
                     " ORDER BY id"),
                {"k": kind, "a": aggregate},
            )
        ).scalars().all()  # fmt: skip
    return [dict(r) for r in rows]


async def _fire(kind: str) -> int:
    import app.incidents.timers  # noqa: F401  (registered by the worker)

    async with open_uow() as uow:
        ids = [
            r[0]
            for r in (
                await uow.session.execute(
                    text("SELECT id FROM timers WHERE kind = :k AND state = 'pending'"), {"k": kind}
                )
            ).all()
        ]
    if not ids:
        return 0
    async with open_uow() as uow:
        batch = await firing.fire_due(uow, 100, ids=ids)
    return batch.fired


async def test_declared_by_hand_updated_on_a_timer_and_resolved_with_its_tickets(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    start = clock.now()
    new = await create_ticket(client, admin, world, priority="P2", impact=None, urgency=None)
    working = await create_ticket(client, admin, world, priority="P2", impact=None, urgency=None)
    await client.post(f"/v1/tickets/{working['id']}/start", json={}, headers=admin)
    manager = await issue_key("manager")
    body = {"title": "华东区多家银行核心交换机批量宕机", "product_family": "switch",
            "update_interval_minutes": 30, "ticket_ids": [new["id"], working["id"]]}  # fmt: skip
    agent = await issue_key("agent")
    assert (await client.post("/v1/incidents", json=body, headers=agent)).status_code == 403
    bad = await client.post("/v1/incidents", json={**body, "product_family": "toaster"},
                            headers=manager)  # fmt: skip
    assert bad.status_code == 422
    bad = await client.post("/v1/incidents", json={**body, "ticket_ids": [str(uuid.uuid4())]},
                            headers=manager)  # fmt: skip
    assert bad.status_code == 422
    r = await client.post("/v1/incidents", json=body, headers=manager)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["state"] == "open" and set(inc["ticket_ids"]) == {new["id"], working["id"]}
    assert datetime.fromisoformat(inc["next_update_due_at"]) == start + timedelta(minutes=30)
    declared = await _outbox("incident.declared", inc["id"])
    assert declared[0]["recipients"] == ["group:emergency", "role:manager", "role:admin"]
    events = (await client.get(f"/v1/tickets/{new['id']}/events", headers=admin)).json()["items"]
    assert "ticket.incident_linked" in [e["type"] for e in events]
    # One open incident per product family.
    assert (await client.post("/v1/incidents", json=body, headers=manager)).status_code == 409
    # No update for 30 minutes: due, announced, and due again 30 minutes later.
    clock.set(start + timedelta(minutes=30))
    assert await _fire("incident.update_due") == 1
    assert len(await _outbox("incident.update_due", inc["id"])) == 1
    assert await _fire("incident.update_due") == 0  # re-armed for later, not now
    clock.set(start + timedelta(minutes=45))
    r = await client.post(f"/v1/incidents/{inc['id']}/updates",
                          json={"body": "已定位为V8.2.1缺陷,补丁验证中"}, headers=manager)  # fmt: skip
    assert r.status_code == 201
    got = (await client.get(f"/v1/incidents/{inc['id']}", headers=admin)).json()
    assert datetime.fromisoformat(got["next_update_due_at"]) == start + timedelta(minutes=75)
    clock.set(start + timedelta(minutes=60))  # the old due time: nothing due now
    assert await _fire("incident.update_due") == 0
    # Resolved, with the linked tickets (the new one is started first).
    r = await client.post(f"/v1/incidents/{inc['id']}/resolve",
                          json={"summary": "升级V8.2.3补丁后恢复", "resolve_tickets": True},
                          headers=manager)  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["incident"]["state"] == "resolved"
    assert set(out["resolved_ticket_ids"]) == {new["id"], working["id"]}
    for t in (new, working):
        got = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
        assert got["status"] == "resolved" and got["resolution_summary"] == "升级V8.2.3补丁后恢复"
    clock.set(start + timedelta(hours=3))
    assert await _fire("incident.update_due") == 0  # cancelled with the resolution
    r = await client.post(f"/v1/incidents/{inc['id']}/updates", json={"body": "x"}, headers=manager)
    assert r.status_code == 409
    assert len(await _outbox("incident.resolved", inc["id"])) == 1
    listed = (await client.get("/v1/incidents", params={"state": "resolved"}, headers=admin)).json()
    assert [i["id"] for i in listed["items"]] == [inc["id"]]


async def test_more_than_five_p1_on_one_family_declare_one_incident(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    tickets = [await create_ticket(client, admin, world) for _ in range(5)]  # P1 on a switch
    assert await _fire("incident.check") == 5
    assert (await client.get("/v1/incidents", headers=admin)).json()["items"] == []
    tickets.append(await create_ticket(client, admin, world))  # the sixth: more than five
    p2 = await create_ticket(client, admin, world, priority="P2", impact=None, urgency=None)
    await _fire("incident.check")
    [inc] = (await client.get("/v1/incidents", headers=admin)).json()["items"]
    assert inc["trigger"] == "auto" and inc["product_family"] == "switch"
    assert set(inc["ticket_ids"]) == {t["id"] for t in tickets}
    assert p2["id"] not in inc["ticket_ids"]
    # A seventh P1 joins the open incident; no second incident.
    seventh = await create_ticket(client, admin, world)
    await _fire("incident.check")
    [inc] = (await client.get("/v1/incidents", headers=admin)).json()["items"]
    assert seventh["id"] in inc["ticket_ids"] and len(inc["ticket_ids"]) == 7
    assert len(await _outbox("incident.declared", inc["id"])) == 1


async def test_incidents_span_branches_and_scoped_keys_see_their_own_tickets(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    mine = await create_ticket(client, admin, world)
    theirs = await create_ticket(client, admin, world, customer_id=str(world.other_customer_id),
                           contact_id=str(world.other_contact_id),
                           device_id=str(world.other_device_id))  # fmt: skip
    scoped = await issue_key("dispatcher", world.branch_id)
    body = {"title": "跨区域骨干网中断", "ticket_ids": [mine["id"], theirs["id"]]}
    assert (await client.post("/v1/incidents", json=body, headers=scoped)).status_code == 403
    r = await client.post("/v1/incidents", json=body, headers=admin)
    assert r.status_code == 201
    inc = r.json()
    assert set(inc["ticket_ids"]) == {mine["id"], theirs["id"]}
    seen = (await client.get(f"/v1/incidents/{inc['id']}", headers=scoped)).json()
    assert seen["ticket_ids"] == [mine["id"]]
    r = await client.post(
        f"/v1/incidents/{inc['id']}/resolve", json={"summary": "x"}, headers=scoped
    )
    assert r.status_code == 403
