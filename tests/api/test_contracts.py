from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from app.contracts import service
from app.core.db import open_uow
from tests.api.conftest import (
    EVIL_HTML,
    EVIL_SQL,
    branch_and_customer,
    make_branch,
    make_customer,
    make_device,
    walk_pages,
)
from tests.conftest import issue_key

TODAY = service.business_today()


def d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


async def make_contract(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    customer_id: str,
    number: str = "HT-2026-SH-0042",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "number": number,
        "service_level": "7x24",
        "starts_on": d(-30),
        "ends_on": d(335),
        **extra,
    }
    r = await client.post("/v1/contracts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_contract_crud(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _, customer = await branch_and_customer(client, admin)
    body = {
        "customer_id": customer["id"],
        "number": "HT-2026-SH-0042",
        "service_level": "7x24",
        "starts_on": d(-30),
        "ends_on": d(335),
        "notes": "含备件先行更换, 每季度巡检一次",
    }
    r = await client.post("/v1/contracts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    contract = r.json()
    assert {k: contract[k] for k in body} == body
    assert contract["status"] == contract["recorded_status"] == "active"
    assert contract["version"] == 1 and r.headers["etag"] == 'W/"1"'
    got = await client.get(f"/v1/contracts/{contract['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == contract and got.headers["etag"] == 'W/"1"'
    r = await client.patch(
        f"/v1/contracts/{contract['id']}",
        json={"status": "suspended", "service_level": "5x8", "ends_on": d(700)},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended" and r.json()["service_level"] == "5x8"
    assert r.json()["ends_on"] == d(700) and r.json()["version"] == 2
    assert r.json()["updated_at"] > contract["updated_at"] and r.headers["etag"] == 'W/"2"'
    r = await client.patch(
        f"/v1/contracts/{contract['id']}",
        json={"notes": "x"},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 412
    assert (await client.get(f"/v1/contracts/{contract['id']}", headers=admin)).json()[
        "notes"
    ] == body["notes"]


async def test_expired_is_effective_status(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, customer = await branch_and_customer(client, admin)
    old = await make_contract(
        client, admin, customer["id"], "HT-OLD", starts_on=d(-400), ends_on=d(-1)
    )
    assert old["status"] == "expired" and old["recorded_status"] == "active"
    current = await make_contract(client, admin, customer["id"], "HT-NOW")
    ends_today = await make_contract(client, admin, customer["id"], "HT-TODAY", ends_on=d(0))
    assert ends_today["status"] == "active"  # the last day is still covered
    suspended = await make_contract(client, admin, customer["id"], "HT-SUSP", status="suspended")
    expired = await client.get("/v1/contracts", params={"status": "expired"}, headers=admin)
    assert [c["id"] for c in expired.json()["items"]] == [old["id"]]
    active = await client.get("/v1/contracts", params={"status": "active"}, headers=admin)
    assert [c["id"] for c in active.json()["items"]] == [ends_today["id"], current["id"]]
    r = await client.get("/v1/contracts", params={"status": "suspended"}, headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [suspended["id"]]
    # Renewing (moving ends_on forward) makes it active again: nothing else to do.
    r = await client.patch(f"/v1/contracts/{old['id']}", json={"ends_on": d(365)}, headers=admin)
    assert r.json()["status"] == "active"


async def test_contract_rules(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _, customer = await branch_and_customer(client, admin)
    base = {
        "customer_id": customer["id"],
        "number": "HT-1",
        "service_level": "7x24",
        "starts_on": d(0),
        "ends_on": d(10),
    }
    r = await client.post("/v1/contracts", json={**base, "ends_on": d(-1)}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "ends_on"]
    r = await client.post(
        "/v1/contracts", json={**base, "service_level": "platinum"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["field"] == "service_level"
    await client.post(
        "/v1/service-levels",
        json={"code": "old", "name": "旧", "name_en": "Old", "active": False},
        headers=admin,
    )
    r = await client.post("/v1/contracts", json={**base, "service_level": "old"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "service_level"
    r = await client.post(
        "/v1/contracts", json={**base, "customer_id": str(uuid.uuid4())}, headers=admin
    )
    assert r.status_code == 422 and r.json()["field"] == "customer_id"
    r = await client.post("/v1/contracts", json={**base, "status": "cancelled"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "status"]
    c = await make_contract(client, admin, customer["id"], "HT-1")
    r = await client.post("/v1/contracts", json=base, headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "number"
    other = await make_contract(client, admin, customer["id"], "HT-2")
    r = await client.patch(f"/v1/contracts/{other['id']}", json={"number": "HT-1"}, headers=admin)
    assert r.status_code == 409
    r = await client.patch(f"/v1/contracts/{c['id']}", json={"starts_on": d(1000)}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "ends_on"
    r = await client.patch(f"/v1/contracts/{c['id']}", json={"service_level": "old"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "service_level"
    r = await client.patch(f"/v1/contracts/{c['id']}", json={"status": None}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "status"
    r = await client.patch(
        f"/v1/contracts/{c['id']}", json={"customer_id": customer["id"]}, headers=admin
    )
    assert r.status_code == 422
    # A level deactivated after signing does not block other edits.
    await client.patch("/v1/service-levels/7x24", json={"active": False}, headers=admin)
    r = await client.patch(f"/v1/contracts/{c['id']}", json={"notes": "续签洽谈中"}, headers=admin)
    assert r.status_code == 200 and r.json()["service_level"] == "7x24"


async def test_contract_bad_input(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _, customer = await branch_and_customer(client, admin)
    r = await client.post(
        "/v1/contracts", content=b'{"number"', headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post(
        "/v1/contracts",
        json={
            "customer_id": customer["id"],
            "number": 42,
            "service_level": "7x24",
            "starts_on": "2026-13-01",
            "ends_on": d(1),
            "version": 3,
        },
        headers=admin,
    )
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    for field in ("number", "starts_on", "version"):
        assert ["body", field] in locs, field
    assert (await client.get(f"/v1/contracts/{uuid.uuid4()}", headers=admin)).status_code == 404
    r = await client.patch(f"/v1/contracts/{uuid.uuid4()}", json={"notes": "x"}, headers=admin)
    assert r.status_code == 404
    assert (
        await client.get(f"/v1/contracts/{uuid.uuid4()}/devices", headers=admin)
    ).status_code == 404
    r = await client.put(
        f"/v1/contracts/{uuid.uuid4()}/devices", json={"device_ids": []}, headers=admin
    )
    assert r.status_code == 404
    c = await make_contract(client, admin, customer["id"])
    url = f"/v1/contracts/{c['id']}/devices"
    r = await client.put(url, content=b"{", headers={**admin, "content-type": "application/json"})
    assert r.status_code == 400
    r = await client.put(url, json={"device_ids": ["x"]}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "device_ids", 0]
    r = await client.put(url, json={"devices": []}, headers=admin)
    assert r.status_code == 422
    r = await client.put(url, json={"device_ids": [str(uuid.uuid4())] * 1001}, headers=admin)
    assert r.status_code == 422
    r = await client.get("/v1/contracts", params={"status": "lost"}, headers=admin)
    assert r.status_code == 422


async def test_covered_devices(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh, customer = await branch_and_customer(client, admin)
    other = await make_customer(client, admin, sh, "C-OTHER")
    d1 = await make_device(client, admin, customer["id"], serial="SN-1")
    d2 = await make_device(client, admin, customer["id"], serial="SN-2")
    foreign = await make_device(client, admin, other["id"], serial="SN-9")
    c = await make_contract(client, admin, customer["id"])
    url = f"/v1/contracts/{c['id']}/devices"
    r = await client.get(url, headers=admin)
    assert r.status_code == 200 and r.json() == {
        "contract_id": c["id"],
        "version": 1,
        "devices": [],
    }
    assert r.headers["etag"] == 'W/"1"'
    r = await client.put(
        url,
        json={"device_ids": [d2["id"], d1["id"], d2["id"]]},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["devices"]] == [d1["id"], d2["id"]]
    assert r.json()["version"] == 2 and r.headers["etag"] == 'W/"2"'
    got = await client.get(url, headers=admin)
    assert got.json() == r.json()
    assert (await client.get(f"/v1/contracts/{c['id']}", headers=admin)).json()["version"] == 2
    ghost = str(uuid.uuid4())
    r = await client.put(url, json={"device_ids": [d1["id"], foreign["id"], ghost]}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "device_ids"
    assert set(r.json()["device_ids"]) == {foreign["id"], ghost}
    assert [x["id"] for x in (await client.get(url, headers=admin)).json()["devices"]] == [
        d1["id"],
        d2["id"],
    ]
    r = await client.put(
        url, json={"device_ids": [d2["id"]]}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    r = await client.put(url, json={"device_ids": [d2["id"]]}, headers=admin)
    assert [x["id"] for x in r.json()["devices"]] == [d2["id"]]
    r = await client.put(url, json={"device_ids": []}, headers=admin)
    assert r.status_code == 200 and r.json()["devices"] == [] and r.json()["version"] == 4


async def test_contract_branch_scope_and_roles(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh, sh_customer = await branch_and_customer(client, admin)
    bj = await make_branch(client, admin, "BJ")
    bj_customer = await make_customer(client, admin, bj, "C-BJ")
    bj_contract = await make_contract(client, admin, bj_customer["id"], "HT-BJ")
    sh_manager = await issue_key("manager", branch_id=sh)
    for method, url, body in (
        ("GET", f"/v1/contracts/{bj_contract['id']}", None),
        ("PATCH", f"/v1/contracts/{bj_contract['id']}", {"notes": "x"}),
        ("GET", f"/v1/contracts/{bj_contract['id']}/devices", None),
        ("PUT", f"/v1/contracts/{bj_contract['id']}/devices", {"device_ids": []}),
    ):
        r = await client.request(method, url, json=body, headers=sh_manager)
        assert r.status_code == 404, (method, url)
    r = await client.post(
        "/v1/contracts",
        json={
            "customer_id": bj_customer["id"],
            "number": "HT-X",
            "service_level": "5x8",
            "starts_on": d(0),
            "ends_on": d(1),
        },
        headers=sh_manager,
    )
    assert r.status_code == 422 and r.json()["field"] == "customer_id"
    mine = await make_contract(client, sh_manager, sh_customer["id"], "HT-SH")
    listing = await client.get("/v1/contracts", headers=sh_manager)
    assert [c["id"] for c in listing.json()["items"]] == [mine["id"]]
    assert (await client.get("/v1/contracts")).status_code == 401
    for role in ("agent", "engineer", "dispatcher", "integration"):
        key = await issue_key(role)
        assert (await client.get(f"/v1/contracts/{mine['id']}", headers=key)).status_code == 200
        r = await client.post(
            "/v1/contracts",
            json={
                "customer_id": sh_customer["id"],
                "number": f"HT-{role}",
                "service_level": "5x8",
                "starts_on": d(0),
                "ends_on": d(1),
            },
            headers=key,
        )
        assert r.status_code == 403, role
        r = await client.patch(f"/v1/contracts/{mine['id']}", json={"notes": "x"}, headers=key)
        assert r.status_code == 403
        r = await client.put(
            f"/v1/contracts/{mine['id']}/devices", json={"device_ids": []}, headers=key
        )
        assert r.status_code == 403


async def test_list_pagination_and_verbatim_text(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh, c1 = await branch_and_customer(client, admin)
    c2 = await make_customer(client, admin, sh, "C-2")
    ids = []
    for i in range(5):
        c = await make_contract(
            client,
            admin,
            c1["id"] if i < 2 else c2["id"],
            f"HT-{i}",
            notes=EVIL_SQL if i == 0 else EVIL_HTML,
        )
        ids.append(c["id"])
    seen = [c["id"] for c in await walk_pages(client, admin, "/v1/contracts")]
    assert seen == list(reversed(ids))
    r = await client.get("/v1/contracts", params={"customer_id": c1["id"]}, headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [ids[1], ids[0]]
    r = await client.get("/v1/contracts", params={"number": "HT-3"}, headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [ids[3]]
    got = (await client.get(f"/v1/contracts/{ids[0]}", headers=admin)).json()
    assert got["notes"] == EVIL_SQL
    got = (await client.get(f"/v1/contracts/{ids[1]}", headers=admin)).json()
    assert got["notes"] == EVIL_HTML
    r = await client.get("/v1/contracts", params={"service_level": "5x8"}, headers=admin)
    assert r.json()["items"] == []


async def _covering(customer_id: str, device_id: str, on: date) -> str | None:
    async with open_uow() as uow:
        found = await service.find_covering_contract(
            uow, uuid.UUID(customer_id), uuid.UUID(device_id), on
        )
        return str(found.id) if found else None
    return None


async def test_find_covering_contract(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh, customer = await branch_and_customer(client, admin)
    other = await make_customer(client, admin, sh, "C-OTHER")
    dev = await make_device(client, admin, customer["id"], serial="SN-1")
    uncovered = await make_device(client, admin, customer["id"], serial="SN-2")
    foreign = await make_device(client, admin, other["id"], serial="SN-3")

    async def cover(contract: dict[str, Any], *devices: dict[str, Any]) -> None:
        r = await client.put(
            f"/v1/contracts/{contract['id']}/devices",
            json={"device_ids": [x["id"] for x in devices]},
            headers=admin,
        )
        assert r.status_code == 200, r.text

    # No contract at all.
    assert await _covering(customer["id"], dev["id"], TODAY) is None
    expired = await make_contract(
        client, admin, customer["id"], "HT-EXP", starts_on=d(-400), ends_on=d(-10)
    )
    await cover(expired, dev)
    assert await _covering(customer["id"], dev["id"], TODAY) is None  # expired
    assert await _covering(customer["id"], dev["id"], TODAY - timedelta(days=10)) == expired["id"]
    suspended = await make_contract(client, admin, customer["id"], "HT-SUS", status="suspended")
    await cover(suspended, dev)
    assert await _covering(customer["id"], dev["id"], TODAY) is None  # suspended
    covering = await make_contract(
        client, admin, customer["id"], "HT-COV", starts_on=d(-5), ends_on=d(100)
    )
    await cover(covering, dev)
    assert await _covering(customer["id"], dev["id"], TODAY) == covering["id"]
    assert await _covering(customer["id"], dev["id"], TODAY + timedelta(days=100)) == covering["id"]
    assert await _covering(customer["id"], dev["id"], TODAY + timedelta(days=101)) is None
    assert (
        await _covering(customer["id"], dev["id"], TODAY - timedelta(days=6)) is None
    )  # not started
    assert await _covering(customer["id"], uncovered["id"], TODAY) is None  # not covering
    assert await _covering(other["id"], dev["id"], TODAY) is None  # another customer
    assert await _covering(other["id"], foreign["id"], TODAY) is None
    # Two qualify: the one ending last wins.
    longer = await make_contract(
        client, admin, customer["id"], "HT-LONG", starts_on=d(-1), ends_on=d(500)
    )
    await cover(longer, dev, uncovered)
    assert await _covering(customer["id"], dev["id"], TODAY) == longer["id"]
    assert await _covering(customer["id"], uncovered["id"], TODAY) == longer["id"]
    # Suspending it hands the device back to the other one; reactivating restores it.
    await client.patch(f"/v1/contracts/{longer['id']}", json={"status": "suspended"}, headers=admin)
    assert await _covering(customer["id"], dev["id"], TODAY) == covering["id"]
    # An early end recorded by hand counts even before ends_on.
    await client.patch(f"/v1/contracts/{covering['id']}", json={"status": "expired"}, headers=admin)
    assert await _covering(customer["id"], dev["id"], TODAY) is None
