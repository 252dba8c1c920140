"""Alerts become tickets, once, through the real app: an Alertmanager group with firing,
repeat, resolved and resolved-without-firing alerts; recovery resolving (or not) by the
source's setting; an alert firing again after its ticket was resolved (reopened) and
closed (a new ticket, linked); concurrent copies of one group; the mapping of labels to
customer, device and priority; and a flood of P1 alerts on one product family declaring
one major incident."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from tests.api.conftest import ticket_events
from tests.api.test_hooks_ingress import am_alert, am_body, bearer, count, make_source, post
from tests.api.test_incidents import _fire
from tests.factories import World


async def _ticket(client: httpx.AsyncClient, admin: dict[str, str], tid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/tickets/{tid}", headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _types(client: httpx.AsyncClient, admin: dict[str, str], tid: str) -> list[str]:
    return [e["type"] for e in await ticket_events(client, admin, tid)]


async def _act(
    client: httpx.AsyncClient, admin: dict[str, str], tid: str, action: str, **body: Any
) -> None:
    r = await client.post(f"/v1/tickets/{tid}/{action}", json=body, headers=admin)
    assert r.status_code == 200, r.text


async def _alerts(client: httpx.AsyncClient, admin: dict[str, str], sid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/hooks/sources/{sid}/alerts", headers=admin)
    assert r.status_code == 200, r.text
    return {a["fingerprint"]: a for a in r.json()["items"]}


async def test_an_alertmanager_group_firing_repeating_and_resolving(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world, resolve_on_recovery=True)
    key, h = src["key"], bearer(token)
    a = am_alert("a1", severity="critical", instance="db-1:9100")
    b = am_alert("b2", instance="web-1:9100")

    # Firing: a ticket per alert of the group, not one for the group.
    r = await post(client, key, am_body(a, b), h)
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["outcome"] == "accepted"
    assert [(x["fingerprint"], x["action"]) for x in first["alerts"]] == [
        ("a1", "opened"),
        ("b2", "opened"),
    ]
    ta, tb = (x["ticket_id"] for x in first["alerts"])
    ticket = await _ticket(client, admin, ta)
    assert ticket["channel"] == "webhook" and ticket["external_ref"] == "a1"
    assert ticket["priority"] == "P1"  # severity critical, by the default value map
    assert ticket["customer_id"] == str(world.customer_id) and ticket["category"] == "hardware"
    assert ticket["subject"] == "NodeDown: db-1:9100 宕机 / down"
    assert "alertname=NodeDown" in ticket["description"]
    assert "http://prometheus:9090/graph" in ticket["description"]
    assert ticket["affected_system"] == "db-1:9100"
    assert (await _ticket(client, admin, tb))["priority"] == "P3"  # warning
    created = await _ticket(client, admin, ta)
    events_before = len(await ticket_events(client, admin, ta))

    # Repeat (Alertmanager's repeat_interval): counted on the ticket, no comment, no new
    # ticket, and the ticket's version (an engineer's ETag) untouched.
    for _ in range(3):
        r = await post(client, key, am_body(a, b), h)
        assert [x["action"] for x in r.json()["alerts"]] == ["repeated", "repeated"]
    assert await count("tickets") == 2
    events = await ticket_events(client, admin, ta)
    repeats = [e for e in events if e["type"] == "alert.repeated"]
    assert [e["data"]["count"] for e in repeats] == [2, 3, 4]
    assert repeats[0]["data"]["fingerprint"] == "a1" and repeats[0]["data"]["source"] == key
    assert len(events) == events_before + 3
    after = await _ticket(client, admin, ta)
    assert after["version"] == created["version"]
    r = await client.get(f"/v1/tickets/{ta}/comments", headers=admin)
    assert r.json()["items"] == []
    async with open_uow() as uow:
        announced = (await uow.session.execute(text(
            "SELECT count(*) FROM outbox WHERE event_type = 'alert.repeated'"))).scalar_one()  # fmt: skip
    assert announced == 0

    # a1 is being worked on; b2 is not. Both recover; a third alert, never seen firing,
    # arrives resolved (after group_wait).
    await _act(client, admin, ta, "start")
    c = am_alert("c3", "resolved", instance="cache-1:9100")
    resolved = am_body({**a, "status": "resolved", "endsAt": "2026-03-02T09:00:00Z"},
                       {**b, "status": "resolved"}, c)  # fmt: skip
    r = await post(client, key, resolved, h)
    actions = {x["fingerprint"]: x["action"] for x in r.json()["alerts"]}
    assert actions == {"a1": "recovered_resolved", "b2": "recovered", "c3": "resolved_unknown"}
    got_a = await _ticket(client, admin, ta)
    assert got_a["status"] == "resolved" and "恢复" in got_a["resolution_summary"]
    assert (await _ticket(client, admin, tb))["status"] == "new"  # nobody started it
    b_events = await ticket_events(client, admin, tb)
    recovered = [e for e in b_events if e["type"] == "alert.recovered"]
    assert len(recovered) == 1 and recovered[0]["data"]["auto_resolve"] is False
    assert "note" in recovered[0]["data"]
    types = await _types(client, admin, ta)
    assert types.index("alert.recovered") + 1 == types.index("ticket.resolved")
    assert await count("tickets") == 2  # c3 opened nothing
    rows = await _alerts(client, admin, src["id"])
    assert rows["c3"]["state"] == "resolved" and rows["c3"]["ticket_id"] is None
    assert rows["a1"]["state"] == "resolved" and rows["a1"]["fire_count"] == 4
    assert rows["a1"]["ends_at"].startswith("2026-03-02T09:00:00")

    # Resolved again (repeat_interval resends resolved alerts): nothing at all.
    before = (await count("tickets"), await count("ticket_events"), await count("outbox"))
    r = await post(client, key, resolved, h)
    assert [x["action"] for x in r.json()["alerts"]] == ["already_resolved"] * 3
    assert (await count("tickets"), await count("ticket_events"), await count("outbox")) == before

    # a1 fires again while its ticket is resolved: reopened, the same ticket.
    r = await post(client, key, am_body(a), h)
    assert r.json()["alerts"][0]["action"] == "reopened"
    assert r.json()["alerts"][0]["ticket_id"] == ta
    reopened = await _ticket(client, admin, ta)
    assert reopened["status"] == "in_progress" and reopened["reopen_count"] == 1
    events = await ticket_events(client, admin, ta)
    reopen = [e for e in events if e["type"] == "ticket.reopened"]
    assert len(reopen) == 1 and "告警再次触发" in reopen[0]["data"]["reason"]
    # b2 fires again while its ticket is still open: a repeat.
    r = await post(client, key, am_body(b), h)
    assert r.json()["alerts"][0]["action"] == "repeated"


async def test_an_alert_firing_after_its_ticket_closed_opens_a_linked_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world)
    key, h = src["key"], bearer(token)
    a = am_alert("z9")
    old = (await post(client, key, am_body(a), h)).json()["alerts"][0]
    await _act(client, admin, old["ticket_id"], "start")
    await _act(client, admin, old["ticket_id"], "resolve", resolution_summary="更换电源")
    await _act(client, admin, old["ticket_id"], "confirm")
    assert (await _ticket(client, admin, old["ticket_id"]))["status"] == "closed"
    # resolve_on_recovery is off: the recovery is only recorded.
    r = await post(client, key, am_body({**a, "status": "resolved"}), h)
    assert r.json()["alerts"][0]["action"] == "recovered"

    r = await post(client, key, am_body(a), h)
    new = r.json()["alerts"][0]
    assert new["action"] == "refired" and new["ticket_id"] != old["ticket_id"]
    events = await ticket_events(client, admin, new["ticket_id"])
    assert [e["type"] for e in events][:2] == ["ticket.created", "alert.refired"]
    link = events[1]["data"]
    assert link["previous_ticket_id"] == old["ticket_id"]
    assert link["previous_ticket_number"] == old["ticket_number"]
    row = (await _alerts(client, admin, src["id"]))["z9"]
    assert row["ticket_id"] == new["ticket_id"] and row["previous_ticket_id"] == old["ticket_id"]

    # Cancelled as a false alarm while the same firing goes on: Alertmanager's repeats
    # of it are counted and open nothing (the cancellation decided about this firing).
    await _act(client, admin, new["ticket_id"], "cancel", reason="误报")
    for _ in range(3):
        r = await post(client, key, am_body(a), h)
        still = r.json()["alerts"][0]
        assert still["action"] == "closed_while_firing", still
        assert still["ticket_id"] == new["ticket_id"]
    assert await count("tickets") == 2
    # A new firing (another startsAt: it recovered and fired again in between, and the
    # recovery was lost or not sent) opens the next ticket, linked to the cancelled one.
    r = await post(client, key, am_body({**a, "startsAt": "2026-03-02T09:30:00Z"}), h)
    third = r.json()["alerts"][0]
    assert third["action"] == "refired" and third["ticket_id"] not in (
        old["ticket_id"],
        new["ticket_id"],
    )
    assert await count("tickets") == 3


async def test_concurrent_copies_of_a_group_open_each_ticket_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """Alertmanager in an HA pair sends the same group twice at once, with no id: the
    fingerprints' row locks make one request open and the others repeat. Overlapping
    groups in different orders do not deadlock."""
    src, token = await make_source(client, admin, world)
    alerts = [am_alert(f"fp{i:02}", instance=f"h{i}") for i in range(8)]
    bodies = [am_body(*alerts), am_body(*reversed(alerts)), am_body(*alerts[2:6]),
              am_body(*alerts[::-1][:5]), am_body(*alerts)]  # fmt: skip
    answers = await asyncio.gather(*[post(client, src["key"], b, bearer(token)) for b in bodies])
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    assert await count("tickets") == 8
    opened = [x for r in answers for x in r.json()["alerts"] if x["action"] == "opened"]
    assert sorted(x["fingerprint"] for x in opened) == [f"fp{i:02}" for i in range(8)]
    rows = await _alerts(client, admin, src["id"])
    assert sum(r["fire_count"] for r in rows.values()) == sum(len(b["alerts"]) for b in bodies)


async def test_the_mapping_finds_customer_device_category_and_priority(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    other = (await client.get(f"/v1/customers/{world.other_customer_id}", headers=admin)).json()
    device = (await client.get(f"/v1/devices/{world.other_device_id}", headers=admin)).json()
    mapping = {
        "customer_code": "labels.tenant",
        "device_serial": ["labels.sn", "labels.serial"],
        "category": "labels.kind",
        "priority": "labels.level",
        "values": {"priority": {"Sev1": "P1", "sev2": "P2"}, "category": {"app": "software"}},
    }
    src, token = await make_source(client, admin, world, kind="generic", mapping=mapping,
                                   priority="P4")  # fmt: skip
    alerts = [
        {"fingerprint": "m1", "name": "CPU", "labels": {"tenant": other["code"],
         "sn": device["serial"], "kind": "app", "level": "SEV1"}},
        {"fingerprint": "m2", "name": "CPU", "labels": {"tenant": "NO-SUCH-CUSTOMER",
         "kind": "toaster", "level": "whatever"}},
        {"fingerprint": "m3", "name": "CPU", "labels": {"serial": device["serial"],
         "level": "P2"}},
        {"fingerprint": "m4", "summary": "设备序列号属于另一客户", "labels": {"tenant":
         (await client.get(f"/v1/customers/{world.customer_id}", headers=admin)).json()["code"],
         "sn": device["serial"]}},
    ]  # fmt: skip
    r = await post(client, src["key"], {"alerts": alerts}, bearer(token))
    assert r.status_code == 202, r.text
    t = {x["fingerprint"]: await _ticket(client, admin, x["ticket_id"]) for x in r.json()["alerts"]}
    assert (t["m1"]["customer_id"], t["m1"]["device_id"]) == (other["id"], device["id"])
    assert (t["m1"]["category"], t["m1"]["priority"]) == ("software", "P1")
    # Nothing known: the source's own customer, category and priority.
    assert (t["m2"]["customer_id"], t["m2"]["category"], t["m2"]["priority"]) == (
        str(world.customer_id), "hardware", "P4")  # fmt: skip
    # A serial alone: its device, and the device's customer.
    assert (t["m3"]["customer_id"], t["m3"]["device_id"], t["m3"]["priority"]) == (
        other["id"], device["id"], "P2")  # fmt: skip
    # A serial of another customer's device than the one named: no device.
    assert t["m4"]["customer_id"] == str(world.customer_id) and t["m4"]["device_id"] is None
    assert t["m4"]["subject"] == "设备序列号属于另一客户"


async def test_a_flood_of_p1_alerts_on_one_product_family_declares_a_major_incident(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """More than INCIDENT_AUTO_THRESHOLD (5) P1 tickets on switches within the window:
    the tickets the alerts open go through the same rule as any other."""
    device = (await client.get(f"/v1/devices/{world.device_id}", headers=admin)).json()
    assert device["product_family"] == "switch"
    src, token = await make_source(client, admin, world)
    flood = [am_alert(f"sw{i}", severity="critical", serial=device["serial"],
                      instance=f"core-sw-{i}") for i in range(7)]  # fmt: skip
    r = await post(client, src["key"], am_body(*flood), bearer(token))
    assert r.status_code == 202, r.text
    opened = r.json()["alerts"]
    assert [x["action"] for x in opened] == ["opened"] * 7
    for x in opened:
        got = await _ticket(client, admin, x["ticket_id"])
        assert (got["priority"], got["device_id"]) == ("P1", str(world.device_id))
    assert await _fire("incident.check") == 7
    incidents = (await client.get("/v1/incidents", headers=admin)).json()["items"]
    assert len(incidents) == 1 and incidents[0]["product_family"] == "switch"
    linked = set(incidents[0]["ticket_ids"])
    assert linked == {x["ticket_id"] for x in opened}
