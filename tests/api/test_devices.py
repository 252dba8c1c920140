from __future__ import annotations

import uuid

import httpx

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


async def test_device_crud(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _, customer = await branch_and_customer(client, admin)
    body = {
        "customer_id": customer["id"],
        "serial": "2102351931P0K8000123",
        "model": "S5735-L48T4X-A1",
        "product_family": "switch",
        "software_version": "V200R021C10SPC600",
        "site": "张江数据中心 3楼 A05机柜",
        "install_date": "2025-06-18",
        "warranty_end": "2028-06-17",
    }
    r = await client.post("/v1/devices", json=body, headers=admin)
    assert r.status_code == 201, r.text
    device = r.json()
    assert {k: device[k] for k in body} == body and device["version"] == 1
    assert r.headers["etag"] == 'W/"1"'
    got = await client.get(f"/v1/devices/{device['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == device and got.headers["etag"] == 'W/"1"'
    r = await client.patch(
        f"/v1/devices/{device['id']}",
        json={"software_version": "V200R022C00SPC500", "product_family": "router"},
        headers={**admin, "If-Match": got.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["software_version"] == "V200R022C00SPC500"
    assert r.json()["product_family"] == "router" and r.json()["version"] == 2
    assert r.json()["updated_at"] > device["updated_at"]
    r = await client.patch(
        f"/v1/devices/{device['id']}", json={"site": "x"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    r = await client.patch(f"/v1/devices/{device['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["version"] == 3


async def test_device_references_and_dates(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, customer = await branch_and_customer(client, admin)
    base = {
        "customer_id": customer["id"],
        "serial": "SN1",
        "model": "AR6280",
        "product_family": "router",
    }
    r = await client.post(
        "/v1/devices", json={**base, "customer_id": str(uuid.uuid4())}, headers=admin
    )
    assert r.status_code == 422 and r.json()["field"] == "customer_id"
    r = await client.post("/v1/devices", json={**base, "product_family": "toaster"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "product_family"
    assert "product_family" in r.json()["detail"]
    await client.patch("/v1/product-families/wlan", json={"active": False}, headers=admin)
    r = await client.post("/v1/devices", json={**base, "product_family": "wlan"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "product_family"
    r = await client.post(
        "/v1/devices",
        json={**base, "install_date": "2025-06-18", "warranty_end": "2025-06-17"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "warranty_end"]
    device = await make_device(
        client,
        admin,
        customer["id"],
        **{k: v for k, v in base.items() if k != "customer_id"},
        install_date="2025-06-18",
    )
    r = await client.patch(
        f"/v1/devices/{device['id']}", json={"warranty_end": "2024-01-01"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["field"] == "warranty_end"
    r = await client.patch(
        f"/v1/devices/{device['id']}", json={"product_family": "wlan"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["field"] == "product_family"
    r = await client.patch(f"/v1/devices/{device['id']}", json={"serial": None}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "serial"
    r = await client.patch(
        f"/v1/devices/{device['id']}", json={"customer_id": customer["id"]}, headers=admin
    )
    assert r.status_code == 422  # the owner is fixed
    same = await client.get(f"/v1/devices/{device['id']}", headers=admin)
    assert same.json()["version"] == 1


async def test_device_duplicate_model_serial(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh, customer = await branch_and_customer(client, admin)
    other = await make_customer(client, admin, sh, "C-2")
    await make_device(client, admin, customer["id"], serial="SN-1")
    r = await client.post(
        "/v1/devices",
        json={
            "customer_id": other["id"],
            "serial": "SN-1",
            "model": "S5735-L48T4X-A1",
            "product_family": "switch",
        },
        headers=admin,
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/conflict")
    # Same serial, another model: a different device.
    await make_device(client, admin, other["id"], serial="SN-1", model="CE6881-48S6CQ")
    d2 = await make_device(client, admin, customer["id"], serial="SN-2")
    r = await client.patch(f"/v1/devices/{d2['id']}", json={"serial": "SN-1"}, headers=admin)
    assert r.status_code == 409
    r = await client.patch(
        f"/v1/devices/{d2['id']}", json={"serial": "SN-2", "site": "机房"}, headers=admin
    )
    assert r.status_code == 200  # its own pair is no conflict


async def test_device_bad_input(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _, customer = await branch_and_customer(client, admin)
    r = await client.post(
        "/v1/devices", content=b"[", headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post(
        "/v1/devices",
        json={
            "customer_id": customer["id"],
            "serial": 123,
            "model": "m",
            "product_family": "switch",
            "install_date": "yesterday",
            "active": False,
            "colour": "red",
        },
        headers=admin,
    )
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    for field in ("serial", "install_date", "active", "colour"):
        assert ["body", field] in locs, field
    assert (await client.get(f"/v1/devices/{uuid.uuid4()}", headers=admin)).status_code == 404
    r = await client.patch(f"/v1/devices/{uuid.uuid4()}", json={"site": "x"}, headers=admin)
    assert r.status_code == 404
    r = await client.get("/v1/devices", params={"customer_id": "nope"}, headers=admin)
    assert r.status_code == 422


async def test_device_branch_scope_and_roles(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh, sh_customer = await branch_and_customer(client, admin)
    bj = await make_branch(client, admin, "BJ")
    bj_customer = await make_customer(client, admin, bj, "C-BJ")
    bj_device = await make_device(client, admin, bj_customer["id"], serial="BJ-1")
    sh_manager = await issue_key("manager", branch_id=sh)
    assert (
        await client.get(f"/v1/devices/{bj_device['id']}", headers=sh_manager)
    ).status_code == 404
    r = await client.patch(f"/v1/devices/{bj_device['id']}", json={"site": "x"}, headers=sh_manager)
    assert r.status_code == 404
    # Another branch's customer is refused like an unknown one.
    r = await client.post(
        "/v1/devices",
        json={
            "customer_id": bj_customer["id"],
            "serial": "X",
            "model": "m",
            "product_family": "switch",
        },
        headers=sh_manager,
    )
    assert r.status_code == 422 and r.json()["field"] == "customer_id"
    mine = await make_device(client, sh_manager, sh_customer["id"], serial="SH-1")
    listing = await client.get("/v1/devices", headers=sh_manager)
    assert [d["id"] for d in listing.json()["items"]] == [mine["id"]]
    r = await client.get(
        "/v1/devices", params={"customer_id": bj_customer["id"]}, headers=sh_manager
    )
    assert r.json()["items"] == []
    assert (await client.get("/v1/devices")).status_code == 401
    engineer = await issue_key("engineer")
    assert (await client.get(f"/v1/devices/{mine['id']}", headers=engineer)).status_code == 200
    r = await client.post(
        "/v1/devices",
        json={
            "customer_id": sh_customer["id"],
            "serial": "E",
            "model": "m",
            "product_family": "switch",
        },
        headers=engineer,
    )
    assert r.status_code == 403
    r = await client.patch(f"/v1/devices/{mine['id']}", json={"site": "x"}, headers=engineer)
    assert r.status_code == 403
    agent = await issue_key("agent")
    await make_device(client, agent, sh_customer["id"], serial="AG-1")


async def test_device_filters_pagination_and_verbatim_text(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh, c1 = await branch_and_customer(client, admin)
    c2 = await make_customer(client, admin, sh, "C-2")
    ids = []
    for i in range(5):
        d = await make_device(
            client,
            admin,
            c1["id"] if i < 3 else c2["id"],
            serial=f"SN-{i}",
            product_family="storage" if i % 2 else "switch",
        )
        ids.append(d["id"])
    seen = [d["id"] for d in await walk_pages(client, admin, "/v1/devices")]
    assert seen == list(reversed(ids))
    r = await client.get("/v1/devices", params={"customer_id": c2["id"]}, headers=admin)
    assert [d["id"] for d in r.json()["items"]] == [ids[4], ids[3]]
    r = await client.get("/v1/devices", params={"product_family": "storage"}, headers=admin)
    assert [d["id"] for d in r.json()["items"]] == [ids[3], ids[1]]
    r = await client.get("/v1/devices", params={"serial": "SN-2"}, headers=admin)
    assert [d["id"] for d in r.json()["items"]] == [ids[2]]
    evil = await make_device(
        client, admin, c1["id"], serial="EV-1", site=EVIL_SQL, software_version=EVIL_HTML
    )
    got = (await client.get(f"/v1/devices/{evil['id']}", headers=admin)).json()
    assert got["site"] == EVIL_SQL and got["software_version"] == EVIL_HTML
    r = await client.get("/v1/devices", params={"q": "drop table"}, headers=admin)
    assert [d["id"] for d in r.json()["items"]] == [evil["id"]]
    r = await client.get("/v1/devices", params={"q": "sn-"}, headers=admin)
    assert len(r.json()["items"]) == 5
