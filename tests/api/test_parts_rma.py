"""RMAs (返修) through the API on real PostgreSQL: a part's whole path with its stock and
its serial checked after every step, a vendor's replacement and rejection, a device's
return (no stock moves), expiry by the timer with a pinned clock, wrong steps (409),
replays of one Idempotency-Key, branch scope and hostile input (4xx, never 5xx)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.timers import firing
from tests.api.conftest import create_ticket, problem, ticket_events
from tests.api.partskit import make_part, make_warehouse, receive
from tests.conftest import issue_key
from tests.factories import World

H = dict[str, str]


async def _rma(client: httpx.AsyncClient, h: H, **body: Any) -> dict[str, Any]:
    body.setdefault("reason", "电源模块输出电压异常,返厂检测")
    r = await client.post("/v1/rmas", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _step(
    client: httpx.AsyncClient, h: H, rma: dict[str, Any], action: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"/v1/rmas/{rma['id']}/{action}", json=body, headers=h)
    assert r.status_code == 200, r.text
    out = dict(r.json())
    assert out["version"] == rma["version"] + 1 and r.headers["etag"] == f'W/"{out["version"]}"'
    assert out["history"][-1]["action"] == action and out["history"][-1]["state"] == out["state"]
    return out


async def _stock(client: httpx.AsyncClient, h: H, part_id: str, wh: str) -> dict[str, int]:
    r = await client.get("/v1/stock/balances", params={"part_id": part_id}, headers=h)
    assert r.status_code == 200, r.text
    rows = [b for b in r.json()["items"] if b["warehouse_id"] == wh]
    if not rows:
        return {"on_hand": 0, "defective": 0, "reserved": 0}
    return {k: rows[0][k] for k in ("on_hand", "defective", "reserved")}


async def _serial(client: httpx.AsyncClient, h: H, serial_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/serials/{serial_id}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json()["place"])


async def _sql(query: str, **params: Any) -> list[Any]:
    async with open_uow() as uow:
        return list((await uow.session.execute(text(query), params)).all())


async def _outbox(rma_id: str) -> list[str]:
    rows = await _sql("SELECT event_type FROM outbox WHERE aggregate_type = 'rma' AND "
                      "aggregate_id = :a ORDER BY id", a=rma_id)  # fmt: skip
    return [r[0] for r in rows]


async def _fire() -> int:
    import app.parts.timers  # noqa: F401  (registered by the worker)

    rows = await _sql("SELECT id FROM timers WHERE kind = 'parts.rma_expiry' AND "
                      "state = 'pending'")  # fmt: skip
    if not rows:
        return 0
    async with open_uow() as uow:
        batch = await firing.fire_due(uow, 100, ids=[r[0] for r in rows])
    return batch.fired


async def _timer_state(rma_id: str) -> str:
    rows = await _sql("SELECT state FROM timers WHERE kind = 'parts.rma_expiry' AND "
                      "subject_id = :s", s=rma_id)  # fmt: skip
    return str(rows[0][0])


def _wrong(r: httpx.Response, state: str, allowed: list[str]) -> None:
    body = problem(r, 409)
    assert body["type"].endswith("/invalid-transition"), body
    assert body["current_state"] == state and body["allowed_actions"] == allowed, body


async def test_serialised_part_goes_back_is_repaired_and_shipped_to_the_customer(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    ticket = await create_ticket(client, admin, world)
    part = await make_part(client, admin, serialised=True)
    wh = (await make_warehouse(client, admin, world.branch_id))["id"]
    # A serial never seen before: it is at the customer, on the ticket's device.
    rma = await _rma(client, admin, ticket_id=ticket["id"], part_id=part["id"],
                     serial="SN-FAULTY-001", vendor="华为技术有限公司", warehouse_id=wh)  # fmt: skip
    assert re.fullmatch(r"RMA\d{4}-\d{6}", rma["number"]), rma["number"]
    assert rma["state"] == "authorised" and rma["allowed_actions"] == ["receive", "cancel"]
    assert rma["branch_id"] == str(world.branch_id) and rma["customer_id"] == str(world.customer_id)
    assert rma["quantity"] == 1 and rma["serial"] == "SN-FAULTY-001" and rma["version"] == 1
    # The ticket's device is under the world's contract, with no warranty dates.
    assert rma["warranty"]["basis"] == "contract"
    assert rma["warranty"]["contract_id"] == str(world.contract_id)
    assert await _timer_state(rma["id"]) == "pending"
    serial_id = rma["serial_id"]
    place = await _serial(client, admin, serial_id)
    assert place["place"] == "customer" and place["customer_id"] == str(world.customer_id)
    assert place["device_id"] == str(world.device_id)
    # Out of order: 409 naming the state and what is possible.
    r = await client.post(f"/v1/rmas/{rma['id']}/send-to-vendor", json={}, headers=admin)
    _wrong(r, "authorised", ["receive", "cancel"])

    rma = await _step(client, admin, rma, "receive", warehouse_id=wh)
    assert rma["received_at"] is not None and rma["allowed_actions"] == ["send-to-vendor"]
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 0, "defective": 1,
                                                           "reserved": 0}  # fmt: skip
    place = await _serial(client, admin, serial_id)
    assert (place["place"], place["condition"], place["warehouse_id"]) == ("warehouse",
                                                                           "defective", wh)  # fmt: skip
    assert await _timer_state(rma["id"]) == "cancelled"
    _wrong(await client.post(f"/v1/rmas/{rma['id']}/receive", json={}, headers=admin),
           "received", ["send-to-vendor"])  # fmt: skip

    rma = await _step(client, admin, rma, "send-to-vendor")
    assert rma["vendor"] == "华为技术有限公司"
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 0, "defective": 0,
                                                           "reserved": 0}  # fmt: skip
    assert (await _serial(client, admin, serial_id))["place"] == "vendor"

    rma = await _step(client, admin, rma, "repaired", note="更换电容后修复")
    assert rma["allowed_actions"] == ["ship-back", "close"]
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 1, "defective": 0,
                                                           "reserved": 0}  # fmt: skip
    place = await _serial(client, admin, serial_id)
    assert (place["place"], place["condition"], place["warehouse_id"]) == ("warehouse", "good",
                                                                           wh)  # fmt: skip

    rma = await _step(client, admin, rma, "ship-back")
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 0, "defective": 0,
                                                           "reserved": 0}  # fmt: skip
    place = await _serial(client, admin, serial_id)
    assert place["place"] == "customer" and place["condition"] == "good"
    assert place["device_id"] == str(world.device_id)

    # One open RMA per serial.
    r = await client.post("/v1/rmas", json={"part_id": part["id"], "serial": "SN-FAULTY-001",
                                            "ticket_id": ticket["id"], "reason": "x"},
                          headers=admin)  # fmt: skip
    assert problem(r, 409, "serial")["rma_id"] == rma["id"]
    rma = await _step(client, admin, rma, "close")
    assert rma["state"] == "closed" and rma["closed_at"] and rma["allowed_actions"] == []
    _wrong(await client.post(f"/v1/rmas/{rma['id']}/cancel", json={}, headers=admin),
           "closed", [])  # fmt: skip
    assert [s["action"] for s in rma["history"]] == [
        "create", "receive", "send-to-vendor", "repaired", "ship-back", "close"]  # fmt: skip
    assert rma["history"][3]["note"] == "更换电容后修复"
    got = await client.get(f"/v1/rmas/{rma['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == rma and got.headers["etag"] == 'W/"6"'
    # Each step: one outbox row of the RMA, one note on the ticket's timeline.
    states = ["authorised", "received", "in_repair", "repaired", "shipped_back", "closed"]
    assert await _outbox(rma["id"]) == [f"rma.{s}" for s in states]
    types = [e["type"] for e in await ticket_events(client, admin, ticket["id"])]
    assert [t for t in types if t.startswith("rma.")] == [f"rma.{s}" for s in states]
    # The ledger rows name the RMA and the ticket.
    rows = await _sql("SELECT kind, bucket, quantity, ticket_id FROM stock_movements "
                      "WHERE rma_id = :r ORDER BY seq", r=rma["id"])  # fmt: skip
    assert [(k, b, q) for k, b, q, _ in rows] == [
        ("return_defective", "defective", 1), ("vendor_out", "defective", -1),
        ("vendor_in", "good", 1), ("issue", "good", -1)]  # fmt: skip
    assert {str(t) for *_, t in rows} == {ticket["id"]}
    # A second RMA for the same serial while one is open: 409; after closing: fine.
    again = await client.post("/v1/rmas", json={"part_id": part["id"], "serial": "SN-FAULTY-001",
                                                "ticket_id": ticket["id"], "reason": "再次故障"},
                              headers=admin)  # fmt: skip
    assert again.status_code == 201, again.text


async def test_a_vendor_replacement_scraps_the_old_serial_and_brings_a_new_one(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    part = await make_part(client, admin, serialised=True)
    wh = (await make_warehouse(client, admin, world.branch_id))["id"]
    await receive(client, admin, part["id"], wh, 1, ["SN-IN-STOCK"])
    # A unit in good stock is not a return.
    r = await client.post("/v1/rmas", json={"part_id": part["id"], "serial": "SN-IN-STOCK",
                                            "reason": "x", "warehouse_id": wh}, headers=admin)  # fmt: skip
    problem(r, 409, "serial")
    # No ticket, an unknown serial: its row is made when it is received.
    rma = await _rma(client, admin, part_id=part["id"], serial="SN-OLD-9", warehouse_id=wh)
    assert rma["serial_id"] is None and rma["customer_id"] is None
    assert rma["warranty"]["basis"] == "none" and rma["branch_id"] == str(world.branch_id)
    rma = await _step(client, admin, rma, "receive")
    old = rma["serial_id"]
    assert old and (await _serial(client, admin, old))["place"] == "warehouse"
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 1, "defective": 1,
                                                           "reserved": 0}  # fmt: skip
    r = await client.post(f"/v1/rmas/{rma['id']}/send-to-vendor", json={}, headers=admin)
    problem(r, 422, "vendor")  # nobody named a vendor yet
    rma = await _step(client, admin, rma, "send-to-vendor", vendor="思科系统(中国)")
    r = await client.post(f"/v1/rmas/{rma['id']}/replaced", json={}, headers=admin)
    problem(r, 422, "replacement_serial")
    r = await client.post(f"/v1/rmas/{rma['id']}/replaced",
                          json={"replacement_serial": "SN-IN-STOCK"}, headers=admin)  # fmt: skip
    assert r.status_code == 409, r.text  # that serial exists already
    rma = await _step(client, admin, rma, "replaced", replacement_serial="SN-NEW-9")
    assert rma["replacement_serial"] == "SN-NEW-9" and rma["replacement_serial_id"]
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 2, "defective": 0,
                                                           "reserved": 0}  # fmt: skip
    assert (await _serial(client, admin, old))["place"] == "scrapped"
    new = await _serial(client, admin, rma["replacement_serial_id"])
    assert (new["place"], new["condition"], new["warehouse_id"]) == ("warehouse", "good", wh)
    rows = await _sql("SELECT kind, quantity, serial_place FROM stock_movements WHERE "
                      "rma_id = :r AND kind = 'vendor_in' ORDER BY seq", r=rma["id"])  # fmt: skip
    assert sorted((k, q, p) for k, q, p in rows) == [("vendor_in", 0, "scrapped"),
                                                    ("vendor_in", 1, "warehouse")]  # fmt: skip
    # No customer to ship it to: it stays in stock and the RMA is closed.
    assert rma["allowed_actions"] == ["close"]
    _wrong(await client.post(f"/v1/rmas/{rma['id']}/ship-back", json={}, headers=admin),
           "replaced", ["close"])  # fmt: skip
    await _step(client, admin, rma, "close")


async def test_non_serialised_parts_rejected_and_replaced_by_the_vendor(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    ticket = await create_ticket(client, admin, world)
    part = await make_part(client, admin)
    wh = (await make_warehouse(client, admin, world.branch_id))["id"]
    r = await client.post("/v1/rmas", json={"part_id": part["id"], "serial": "X", "reason": "x",
                                            "ticket_id": ticket["id"]}, headers=admin)  # fmt: skip
    problem(r, 422, "serial")
    rma = await _rma(client, admin, ticket_id=ticket["id"], part_id=part["id"], quantity=3,
                     vendor="华为技术有限公司")  # fmt: skip
    assert rma["quantity"] == 3 and rma["warehouse_id"] is None
    problem(await client.post(f"/v1/rmas/{rma['id']}/receive", json={}, headers=admin), 422,
            "warehouse_id")  # fmt: skip
    rma = await _step(client, admin, rma, "receive", warehouse_id=wh)
    assert rma["warehouse_id"] == wh
    assert (await _stock(client, admin, part["id"], wh))["defective"] == 3
    rma = await _step(client, admin, rma, "send-to-vendor")
    assert (await _stock(client, admin, part["id"], wh))["defective"] == 0
    problem(await client.post(f"/v1/rmas/{rma['id']}/rejected", json={}, headers=admin), 422,
            "note")  # fmt: skip
    rma = await _step(client, admin, rma, "rejected", note="人为损坏,不在保修范围")
    assert (await _stock(client, admin, part["id"], wh))["defective"] == 3
    # Back to the customer as the vendor returned it: out of defective stock.
    rma = await _step(client, admin, rma, "ship-back")
    assert await _stock(client, admin, part["id"], wh) == {"on_hand": 0, "defective": 0,
                                                           "reserved": 0}  # fmt: skip
    await _step(client, admin, rma, "close")

    other = await _rma(client, admin, ticket_id=ticket["id"], part_id=part["id"], quantity=2,
                       vendor="华为技术有限公司", warehouse_id=wh)  # fmt: skip
    for action in ("receive", "send-to-vendor"):
        other = await _step(client, admin, other, action)
    problem(await client.post(f"/v1/rmas/{other['id']}/replaced",
                              json={"replacement_serial": "S1"}, headers=admin), 422,
            "replacement_serial")  # fmt: skip
    other = await _step(client, admin, other, "replaced")
    assert (await _stock(client, admin, part["id"], wh))["on_hand"] == 2


async def test_a_device_goes_back_without_moving_stock_and_stays_in_its_branch(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    r = await client.patch(f"/v1/devices/{world.bare_device_id}",
                           json={"install_date": "2020-01-01", "warranty_end": "2099-12-31"},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    rma = await _rma(client, admin, device_id=str(world.bare_device_id), vendor="华为技术有限公司")
    assert rma["branch_id"] == str(world.branch_id) and rma["customer_id"] == str(world.customer_id)
    assert rma["warranty"]["basis"] == "warranty" and rma["warranty"]["in_warranty"] is True
    # One open RMA per device.
    r = await client.post("/v1/rmas", json={"device_id": str(world.bare_device_id),
                                            "reason": "x"}, headers=admin)  # fmt: skip
    assert problem(r, 409, "device_id")["rma_id"] == rma["id"]
    # Another branch's key does not see it, nor can it act on it.
    other = await issue_key("manager", world.other_branch_id)
    assert (await client.get(f"/v1/rmas/{rma['id']}", headers=other)).status_code == 404
    r = await client.post(f"/v1/rmas/{rma['id']}/receive", json={}, headers=other)
    assert r.status_code == 404
    assert (await client.get("/v1/rmas", headers=other)).json()["items"] == []
    r = await client.post("/v1/rmas", json={"device_id": str(world.device_id), "reason": "x"},
                          headers=other)  # fmt: skip
    problem(r, 422, "device_id")
    own = await issue_key("engineer", world.branch_id)
    for action in ("receive", "send-to-vendor"):
        rma = await _step(client, own, rma, action)
    rma = await _step(client, own, rma, "replaced", replacement_serial="SN-NEW-DEVICE")
    assert rma["replacement_serial"] == "SN-NEW-DEVICE" and rma["replacement_serial_id"] is None
    rma = await _step(client, own, rma, "ship-back")
    rma = await _step(client, own, rma, "close")
    assert await _sql("SELECT 1 FROM stock_movements") == []
    assert await _sql("SELECT 1 FROM part_serials") == []
    # Listing: filters and newest first.
    second = await _rma(client, admin, device_id=str(world.bare_device_id))
    r = await client.get("/v1/rmas", headers=admin)
    assert [x["id"] for x in r.json()["items"]] == [second["id"], rma["id"]]
    r = await client.get("/v1/rmas", params={"open": "true"}, headers=admin)
    assert [x["id"] for x in r.json()["items"]] == [second["id"]]
    r = await client.get("/v1/rmas", params={"state": "closed"}, headers=admin)
    assert [x["id"] for x in r.json()["items"]] == [rma["id"]]
    r = await client.get("/v1/rmas", params={"customer_id": str(world.other_customer_id)},
                         headers=admin)  # fmt: skip
    assert r.json()["items"] == []
    r = await client.get("/v1/rmas", params={"older_than_days": 1}, headers=admin)
    assert r.json()["items"] == []
    r = await client.get("/v1/rmas", params={"limit": 1}, headers=admin)
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r2 = await client.get("/v1/rmas", params={"limit": 1, "cursor": r.json()["next_cursor"]},
                          headers=admin)  # fmt: skip
    assert [x["id"] for x in r2.json()["items"]] == [rma["id"]]


async def test_an_rma_expires_at_its_validity_end_unless_received(
    client: httpx.AsyncClient, admin: H, world: World, clock: FixedClock
) -> None:
    start = clock.now()
    ticket = await create_ticket(client, admin, world)
    part = await make_part(client, admin)
    wh = (await make_warehouse(client, admin, world.branch_id))["id"]
    lapsing = await _rma(client, admin, ticket_id=ticket["id"], part_id=part["id"],
                         validity_days=2, warehouse_id=wh)  # fmt: skip
    arriving = await _rma(client, admin, ticket_id=ticket["id"], part_id=part["id"],
                          validity_days=2, warehouse_id=wh)  # fmt: skip
    default = await _rma(client, admin, device_id=str(world.device_id))
    assert default["expires_at"].startswith((start + timedelta(days=30)).date().isoformat())
    assert lapsing["expires_at"].startswith((start + timedelta(days=2)).date().isoformat())
    clock.set(start + timedelta(days=1))
    await _step(client, admin, arriving, "receive")
    clock.set(start + timedelta(days=2) - timedelta(seconds=1))
    assert await _fire() == 0
    clock.set(start + timedelta(days=2))
    assert await _fire() == 1
    got = (await client.get(f"/v1/rmas/{lapsing['id']}", headers=admin)).json()
    assert got["state"] == "expired" and got["history"][-1]["actor"] == "Supportline"
    assert got["allowed_actions"] == [] and got["closed_at"]
    assert await _outbox(lapsing["id"]) == ["rma.authorised", "rma.expired"]
    types = [e["type"] for e in await ticket_events(client, admin, ticket["id"])]
    assert types.count("rma.expired") == 1
    _wrong(await client.post(f"/v1/rmas/{lapsing['id']}/receive", json={}, headers=admin),
           "expired", [])  # fmt: skip
    got = (await client.get(f"/v1/rmas/{arriving['id']}", headers=admin)).json()
    assert got["state"] == "received"
    # Cancelled before anything arrived: its timer goes with it.
    r = await client.post(f"/v1/rmas/{default['id']}/cancel", json={"note": "客户自行修复"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert await _timer_state(default["id"]) == "cancelled"
    clock.set(start + timedelta(days=31))
    assert await _fire() == 0


async def test_a_replayed_create_makes_one_rma(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    h = {**admin, "Idempotency-Key": "rma-create-1"}
    body = {"device_id": str(world.device_id), "reason": "主板故障返修"}
    first = await client.post("/v1/rmas", json=body, headers=h)
    again = await client.post("/v1/rmas", json=body, headers=h)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    problem(await client.post("/v1/rmas", json={**body, "reason": "另一个"}, headers=h), 422)
    assert len((await client.get("/v1/rmas", headers=admin)).json()["items"]) == 1
    h2 = {**admin, "Idempotency-Key": "rma-receive-1"}
    url = f"/v1/rmas/{first.json()['id']}/receive"
    assert (await client.post(url, json={}, headers=h2)).status_code == 200
    r = await client.post(url, json={}, headers=h2)  # the same answer, not a 409
    assert r.status_code == 200 and r.headers.get("idempotent-replayed") == "true"
    assert r.json()["version"] == 2


async def test_hostile_and_wrong_input_is_refused_with_4xx(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    part = await make_part(client, admin, serialised=True)
    dev = str(world.device_id)
    bad_bodies: list[Any] = [
        {"device_id": dev, "reason": "x\u0000y"},
        {"device_id": dev, "reason": "   "},
        {"device_id": dev, "reason": "x" * 2001},
        {"device_id": dev},
        {"device_id": dev, "reason": "x", "vendor": "a\nb"},
        {"device_id": dev, "reason": "x", "validity_days": 0},
        {"device_id": dev, "reason": "x", "validity_days": 366},
        {"device_id": dev, "reason": "x", "validity_days": "soon"},
        {"device_id": "not-a-uuid", "reason": "x"},
        {"reason": "x"},
        {"device_id": dev, "part_id": part["id"], "reason": "x"},
        {"device_id": dev, "quantity": 2, "reason": "x"},
        {"part_id": part["id"], "serial": "S", "quantity": 2, "reason": "x"},
        {"part_id": part["id"], "reason": "x"},  # serialised: a serial is needed
        {"part_id": part["id"], "serial": "x" * 101, "reason": "x"},
        {"part_id": part["id"], "serial": "S\u0000", "reason": "x"},
        {"part_id": str(uuid.uuid4()), "reason": "x"},
        {"part_id": part["id"], "serial": "S1", "reason": "x"},  # no ticket, no warehouse
        {"device_id": str(uuid.uuid4()), "reason": "x"},
        {"device_id": dev, "reason": "x", "ticket_id": str(uuid.uuid4())},
        {"device_id": dev, "reason": "x", "warehouse_id": str(uuid.uuid4())},
        {"device_id": dev, "reason": "x", "extra": 1},
        {"device_id": dev, "reason": ["x"]},
        [],
        "null",
    ]
    for body in bad_bodies:
        r = await client.post("/v1/rmas", json=body, headers=admin)
        assert r.status_code == 422, (body, r.status_code, r.text)
    # The ticket of another branch, for a key of this branch: as if unknown.
    other_ticket = await create_ticket(client, admin, world, customer_id=str(world.other_customer_id),
                                       contact_id=str(world.other_contact_id),
                                       device_id=str(world.other_device_id))  # fmt: skip
    own = await issue_key("manager", world.branch_id)
    r = await client.post("/v1/rmas", json={"device_id": dev, "reason": "x",
                                            "ticket_id": other_ticket["id"]}, headers=own)  # fmt: skip
    problem(r, 422, "ticket_id")
    # A device that is not the ticket's customer's.
    r = await client.post("/v1/rmas", json={"device_id": str(world.other_device_id),
                                            "reason": "x", "ticket_id": other_ticket["id"]},
                          headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    mine = await create_ticket(client, admin, world)
    r = await client.post("/v1/rmas", json={"device_id": str(world.other_device_id),
                                            "reason": "x", "ticket_id": mine["id"]},
                          headers=admin)  # fmt: skip
    problem(r, 422, "device_id")
    # Not the agent's to do.
    agent = await issue_key("agent")
    assert (await client.post("/v1/rmas", json={"device_id": dev, "reason": "x"},
                              headers=agent)).status_code == 403  # fmt: skip
    rma = await _rma(client, admin, device_id=dev)
    for action, body in [("receive", {"warehouse_id": "x"}), ("receive", {"note": "\u0000"}),
                         ("send-to-vendor", {"vendor": 5}), ("rejected", {"note": ""}),
                         ("replaced", {"replacement_serial": "a\tb"}), ("close", {"x": 1}),
                         ("receive", {"warehouse_id": str(uuid.uuid4())})]:  # fmt: skip
        r = await client.post(f"/v1/rmas/{rma['id']}/{action}", json=body, headers=admin)
        assert r.status_code == 422, (action, body, r.text)
    for url in (f"/v1/rmas/{uuid.uuid4()}", f"/v1/rmas/{uuid.uuid4()}/receive"):
        r = await (client.get(url, headers=admin) if url.count("/") == 3
                   else client.post(url, json={}, headers=admin))  # fmt: skip
        assert r.status_code == 404, r.text
    assert (await client.get("/v1/rmas/not-an-id", headers=admin)).status_code == 422
    assert (await client.post("/v1/rmas/nope/close", json={}, headers=admin)).status_code == 422
    for params in ({"state": "lost"}, {"open": "maybe"}, {"older_than_days": -1},
                   {"ticket_id": "x"}, {"cursor": "!!"}, {"limit": 0}, {"state": "a\u0000"}):  # fmt: skip
        r = await client.get("/v1/rmas", params=params, headers=admin)
        assert 400 <= r.status_code < 500, (params, r.text)
    got = (await client.get(f"/v1/rmas/{rma['id']}", headers=admin)).json()
    assert got["version"] == 1 and got["state"] == "authorised"  # nothing half-done
