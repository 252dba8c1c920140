"""The spare-parts catalogue: parts (备件目录), warehouses (仓库) and the order in which a
branch looks for stock (app/parts/*/catalogue.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.contracts.models import Contract
from app.core.db import open_uow
from app.core.errors import NotFound, Unprocessable
from app.core.security import Principal, Role
from app.parts.models import StockBalance
from app.parts.service import catalogue as svc
from tests.api.conftest import EVIL_SQL, make_branch, problem, walk_pages
from tests.api.partskit import make_part, make_warehouse
from tests.conftest import issue_key
from tests.factories import World

H = dict[str, str]


async def _count(table: str) -> int:
    async with open_uow() as uow:
        return int((await uow.session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _branch(client: httpx.AsyncClient, admin: H, code: str, region: str | None) -> str:
    body = {"code": code, "name": f"{code}分公司", **({"region": region} if region else {})}
    r = await client.post("/v1/branches", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _order(client: httpx.AsyncClient, h: H, branch_id: str) -> list[tuple[str, int]]:
    r = await client.get(f"/v1/branches/{branch_id}/warehouse-order", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["branch_id"] == branch_id
    return [(i["warehouse_id"], i["rank"]) for i in r.json()["items"]]


async def _contract(customer_id: uuid.UUID) -> uuid.UUID:
    async with open_uow() as uow:
        today = date.today()
        k = Contract(customer_id=customer_id, number=f"HT-{uuid.uuid4().hex[:8]}",
                     service_level="7x24", starts_on=today, ends_on=today + timedelta(days=30))  # fmt: skip
        uow.session.add(k)
        await uow.session.flush()
        return k.id


# -- Parts


async def test_part_crud(client: httpx.AsyncClient, admin: H) -> None:
    body = {
        "number": "02312SHD",
        "name": "1000W交流电源模块",
        "name_en": "1000W AC power module",
        "description": "S12700系列\n交流电源",
        "unit_cost": 1280.5,
        "serialised": True,
        "fits": [{"product_family": "switch", "model": "S12700"}, {"product_family": "router"}],
    }
    r = await client.post("/v1/parts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    part = r.json()
    assert r.headers["etag"] == 'W/"1"'
    assert part["unit_cost"] == "1280.50" and part["currency"] == "CNY"
    assert part["lifecycle"] == "active" and part["serialised"] is True
    assert part["substitute"] is None and part["substitute_id"] is None and part["version"] == 1
    assert part["fits"] == [
        {"product_family": "router", "model": ""},
        {"product_family": "switch", "model": "S12700"},
    ]
    got = await client.get(f"/v1/parts/{part['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == part and got.headers["etag"] == 'W/"1"'
    again = await client.get(f"/v1/parts/{part['id']}", headers={**admin, "If-None-Match": 'W/"1"'})
    assert again.status_code == 304
    r = await client.patch(
        f"/v1/parts/{part['id']}",
        json={"name_en": "AC PSU", "unit_cost": "99", "currency": "USD"},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["unit_cost"] == "99.00" and r.json()["currency"] == "USD"
    assert r.json()["version"] == 2 and r.headers["etag"] == 'W/"2"'
    assert r.json()["fits"] == part["fits"]  # not sent, not changed
    r = await client.patch(
        f"/v1/parts/{part['id']}", json={"name": "x"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    problem(r, 412)
    for field in ("number", "name", "unit_cost", "currency", "serialised", "lifecycle", "fits"):
        r = await client.patch(f"/v1/parts/{part['id']}", json={field: None}, headers=admin)
        problem(r, 422, field)
    r = await client.patch(f"/v1/parts/{part['id']}", json={"name_en": None}, headers=admin)
    assert r.status_code == 200 and r.json()["name_en"] is None
    problem(await client.get(f"/v1/parts/{uuid.uuid4()}", headers=admin), 404)
    problem(await client.patch(f"/v1/parts/{uuid.uuid4()}", json={}, headers=admin), 404)


async def test_list_parts_filters_and_pages(client: httpx.AsyncClient, admin: H) -> None:
    a = await make_part(client, admin, number="AB%_1", name="风扇模块", serialised=True)
    b = await make_part(client, admin, name="光模块", name_en="SFP optic",
                        fits=[{"product_family": "router", "model": "AR6280"}])  # fmt: skip
    c = await make_part(
        client, admin, name="主控板", lifecycle="discontinued", alternative="改用新主控板"
    )

    async def ids(**params: Any) -> set[str]:
        return {p["id"] for p in await walk_pages(client, admin, "/v1/parts", **params)}

    assert await ids() == {a["id"], b["id"], c["id"]}
    assert await ids(q="%_") == {a["id"]}  # wildcards are literal
    assert await ids(q="sfp") == {b["id"]}
    assert await ids(q="风扇") == {a["id"]}
    assert await ids(q=EVIL_SQL) == set()
    assert await ids(product_family="switch") == {a["id"], c["id"]}
    assert await ids(product_family="switch", model="S5720") == {a["id"], c["id"]}
    assert await ids(product_family="router", model="AR6280") == {b["id"]}
    assert await ids(product_family="router", model="AR1220") == set()
    assert await ids(model="AR6280") == {b["id"]}
    assert await ids(lifecycle="discontinued") == {c["id"]}
    assert await ids(serialised="true") == {a["id"]}
    page = await client.get("/v1/parts", params={"limit": 2}, headers=admin)
    assert [p["id"] for p in page.json()["items"]] == [c["id"], b["id"]]  # newest first
    problem(await client.get("/v1/parts", params={"lifecycle": "gone"}, headers=admin), 422)
    problem(await client.get("/v1/parts", params={"cursor": "nope"}, headers=admin), 400)


async def test_part_number_is_unique(client: httpx.AsyncClient, admin: H) -> None:
    a = await make_part(client, admin, number="DUP-1")
    b = await make_part(client, admin, number="DUP-2")
    problem(await client.post("/v1/parts", json={"number": "DUP-1", "name": "x"}, headers=admin),
            409, "number")  # fmt: skip
    r = await client.patch(f"/v1/parts/{b['id']}", json={"number": "DUP-1"}, headers=admin)
    problem(r, 409, "number")
    r = await client.patch(f"/v1/parts/{a['id']}", json={"number": "DUP-1"}, headers=admin)
    assert r.status_code == 200  # its own number


async def test_duplicate_number_under_a_race(client: httpx.AsyncClient, admin: H) -> None:
    body = {"number": "RACE-1", "name": "电源", "fits": [{"product_family": "switch"}]}
    for _ in range(3):
        number = f"RACE-{uuid.uuid4().hex[:6]}"
        answers = await asyncio.gather(
            *(client.post("/v1/parts", json={**body, "number": number}, headers=admin)
              for _ in range(2))
        )  # fmt: skip
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        problem(next(r for r in answers if r.status_code == 409), 409, "number")
    assert await _count("parts") == 3
    assert await _count("part_fits") == 3


async def test_idempotent_create(client: httpx.AsyncClient, admin: H) -> None:
    h = {**admin, "Idempotency-Key": "part-1"}
    body = {"number": "IDEM-1", "name": "电源"}
    first = await client.post("/v1/parts", json=body, headers=h)
    second = await client.post("/v1/parts", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    problem(await client.post("/v1/parts", json={**body, "name": "x"}, headers=h), 422)
    assert await _count("parts") == 1


async def test_unit_cost_and_currency(client: httpx.AsyncClient, admin: H) -> None:
    base = {"number": "COST-1", "name": "电源"}
    bad_costs: list[Any] = [-1, "1.234", "1e13", 1234567890123, "NaN", "Infinity", "abc", [], True]
    for bad in bad_costs:
        r = await client.post("/v1/parts", json={**base, "unit_cost": bad}, headers=admin)
        problem(r, 422, "unit_cost")
    for bad in ("cny", "CN", "CNYX", "", 156):
        r = await client.post("/v1/parts", json={**base, "currency": bad}, headers=admin)
        problem(r, 422, "currency")
    part = await make_part(client, admin, unit_cost="999999999999.99", currency="EUR")
    assert part["unit_cost"] == "999999999999.99" and part["currency"] == "EUR"
    part = await make_part(client, admin, unit_cost=0)
    assert part["unit_cost"] == "0.00"
    r = await client.post("/v1/parts", json={**base, "number": "COST-2"}, headers=admin)
    assert r.status_code == 201 and r.json()["unit_cost"] == "0.00"
    got = await client.get(f"/v1/parts/{r.json()['id']}", headers=admin)
    assert got.json() == r.json()


async def test_discontinued_needs_substitute_or_alternative(
    client: httpx.AsyncClient, admin: H
) -> None:
    new = await make_part(client, admin, number="NEW-1", name="新电源")
    base = {"number": "OLD-1", "name": "旧电源", "lifecycle": "discontinued"}
    problem(await client.post("/v1/parts", json=base, headers=admin), 422, "lifecycle")
    r = await client.post(
        "/v1/parts", json={**base, "substitute_id": str(uuid.uuid4())}, headers=admin
    )
    problem(r, 422, "substitute_id")
    r = await client.post("/v1/parts", json={**base, "substitute_id": new["id"]}, headers=admin)
    assert r.status_code == 201, r.text
    old = r.json()
    assert old["substitute"] == {"id": new["id"], "number": "NEW-1", "name": "新电源"}
    # Taking the substitute away leaves a discontinued part with neither: refused.
    r = await client.patch(f"/v1/parts/{old['id']}", json={"substitute_id": None}, headers=admin)
    problem(r, 422, "lifecycle")
    r = await client.patch(
        f"/v1/parts/{old['id']}", json={"substitute_id": None, "alternative": "改用 NEW-1 加转接板"},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["substitute"] is None
    r = await client.patch(f"/v1/parts/{new['id']}", json={"lifecycle": "discontinued"},
                           headers=admin)  # fmt: skip
    problem(r, 422, "lifecycle")
    r = await client.patch(f"/v1/parts/{new['id']}", json={"substitute_id": new["id"]},
                           headers=admin)  # fmt: skip
    problem(r, 422, "substitute_id")
    r = await client.patch(f"/v1/parts/{old['id']}", json={"lifecycle": "active"}, headers=admin)
    assert r.status_code == 200 and r.json()["lifecycle"] == "active"


async def test_substitutes_never_make_a_cycle(client: httpx.AsyncClient, admin: H) -> None:
    a, b, c = [await make_part(client, admin) for _ in range(3)]
    for part, sub in ((a, b), (b, c)):
        r = await client.patch(f"/v1/parts/{part['id']}", json={"substitute_id": sub["id"]},
                               headers=admin)  # fmt: skip
        assert r.status_code == 200, r.text
    for sub in (a, b, c):
        r = await client.patch(f"/v1/parts/{c['id']}", json={"substitute_id": sub["id"]},
                               headers=admin)  # fmt: skip
        problem(r, 422, "substitute_id")
    got = await client.get(f"/v1/parts/{c['id']}", headers=admin)
    assert got.json()["substitute_id"] is None and got.json()["version"] == 1
    # Two changes at once that would close a cycle between them: one of them is refused.
    d, e = [await make_part(client, admin) for _ in range(2)]
    answers = await asyncio.gather(
        client.patch(f"/v1/parts/{d['id']}", json={"substitute_id": e["id"]}, headers=admin),
        client.patch(f"/v1/parts/{e['id']}", json={"substitute_id": d["id"]}, headers=admin),
    )
    assert sorted(r.status_code for r in answers) == [200, 422]


async def test_fits_are_validated_merged_and_replaced(client: httpx.AsyncClient, admin: H) -> None:
    base = {"number": "FIT-1", "name": "电源"}
    r = await client.post("/v1/parts", json={**base, "fits": [
        {"product_family": "switch"}, {"product_family": "toaster"}]}, headers=admin)  # fmt: skip
    body = problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "fits", 1, "product_family"]
    await client.patch("/v1/product-families/wlan", json={"active": False}, headers=admin)
    r = await client.post("/v1/parts", json={**base, "fits": [{"product_family": "wlan"}]},
                          headers=admin)  # fmt: skip
    problem(r, 422, "fits")
    too_many = [{"product_family": "switch", "model": f"M{i}"} for i in range(201)]
    problem(await client.post("/v1/parts", json={**base, "fits": too_many}, headers=admin), 422)
    part = await make_part(client, admin, fits=[
        {"product_family": "switch", "model": "S5720"},
        {"product_family": "switch", "model": "S5720"},
        {"product_family": "switch", "model": "S5720"},
    ])  # fmt: skip
    assert part["fits"] == [{"product_family": "switch", "model": "S5720"}]
    r = await client.patch(f"/v1/parts/{part['id']}", json={"fits": [
        {"product_family": "router", "model": "AR6280"}]}, headers=admin)  # fmt: skip
    assert r.json()["fits"] == [{"product_family": "router", "model": "AR6280"}]
    r = await client.patch(f"/v1/parts/{part['id']}", json={"fits": [
        {"product_family": "switch"}, {"product_family": "toaster"}]}, headers=admin)  # fmt: skip
    problem(r, 422)
    got = await client.get(f"/v1/parts/{part['id']}", headers=admin)
    assert got.json()["fits"] == [{"product_family": "router", "model": "AR6280"}]
    r = await client.patch(f"/v1/parts/{part['id']}", json={"fits": []}, headers=admin)
    assert r.status_code == 200 and r.json()["fits"] == []
    async with open_uow() as uow:
        pid = uuid.UUID(part["id"])
        assert not await svc.part_fits(uow, pid, "router", "AR6280")
    r = await client.patch(f"/v1/parts/{part['id']}", json={"fits": [
        {"product_family": "router", "model": ""}]}, headers=admin)  # fmt: skip
    async with open_uow() as uow:
        assert await svc.part_fits(uow, pid, "router", "AR6280")
        assert await svc.part_fits(uow, pid, "router", "")
        assert not await svc.part_fits(uow, pid, "switch", "AR6280")


async def test_serialised_is_fixed_once_stock_exists(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    part = await make_part(client, admin)
    r = await client.patch(f"/v1/parts/{part['id']}", json={"serialised": True}, headers=admin)
    assert r.status_code == 200 and r.json()["serialised"] is True
    wh = await make_warehouse(client, admin, world.branch_id)
    async with open_uow() as uow:
        uow.session.add(StockBalance(part_id=uuid.UUID(part["id"]),
                                     warehouse_id=uuid.UUID(wh["id"])))  # fmt: skip
    r = await client.patch(f"/v1/parts/{part['id']}", json={"serialised": False}, headers=admin)
    problem(r, 409, "serialised")
    r = await client.patch(f"/v1/parts/{part['id']}", json={"serialised": True, "name": "新名"},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["name"] == "新名"


# -- Warehouses


async def test_warehouse_crud(client: httpx.AsyncClient, admin: H, world: World) -> None:
    body = {"code": "WH-SH-01", "name": "上海备件库", "name_en": "Shanghai depot",
            "kind": "branch", "branch_id": str(world.branch_id), "address": "张江路 88 号"}  # fmt: skip
    r = await client.post("/v1/warehouses", json=body, headers=admin)
    assert r.status_code == 201, r.text
    wh = r.json()
    assert {k: wh[k] for k in body} == body and wh["contract_id"] is None
    assert wh["active"] is True and wh["version"] == 1 and r.headers["etag"] == 'W/"1"'
    got = await client.get(f"/v1/warehouses/{wh['id']}", headers=admin)
    assert got.json() == wh and got.headers["etag"] == 'W/"1"'
    problem(await client.post("/v1/warehouses", json=body, headers=admin), 409, "code")
    r = await client.post("/v1/warehouses", json={**body, "code": "X", "branch_id": str(uuid.uuid4())},
                          headers=admin)  # fmt: skip
    problem(r, 422, "branch_id")
    r = await client.post("/v1/warehouses", json={**body, "code": "X", "kind": "depot"},
                          headers=admin)  # fmt: skip
    problem(r, 422, "kind")
    r = await client.post("/v1/warehouses", json={**body, "code": "X", "address": " "},
                          headers=admin)  # fmt: skip
    problem(r, 422, "address")
    url = f"/v1/warehouses/{wh['id']}"
    r = await client.patch(url, json={"name": "上海一号库", "kind": "branch",
                                      "branch_id": str(world.branch_id), "contract_id": None},
                           headers={**admin, "If-Match": 'W/"1"'})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "上海一号库" and r.json()["version"] == 2
    problem(await client.patch(url, json={"name": "y"}, headers={**admin, "If-Match": 'W/"1"'}),
            412)  # fmt: skip
    for field, value in (("kind", "central"), ("branch_id", str(world.other_branch_id)),
                         ("contract_id", str(world.contract_id))):  # fmt: skip
        problem(await client.patch(url, json={field: value}, headers=admin), 422, field)
    for field in ("name", "address", "active"):
        problem(await client.patch(url, json={field: None}, headers=admin), 422, field)
    r = await client.patch(url, json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["version"] == 3
    problem(await client.get(f"/v1/warehouses/{uuid.uuid4()}", headers=admin), 404)
    problem(await client.patch(f"/v1/warehouses/{uuid.uuid4()}", json={}, headers=admin), 404)


async def test_list_warehouses(client: httpx.AsyncClient, admin: H, world: World) -> None:
    a = await make_warehouse(client, admin, world.branch_id, name="上海备件库")
    b = await make_warehouse(client, admin, world.other_branch_id, kind="central",
                             name="中央库", address="北京市 100%_路")  # fmt: skip
    c = await make_warehouse(client, admin, world.branch_id, kind="customer_site",
                             contract_id=str(world.contract_id))  # fmt: skip
    await client.patch(f"/v1/warehouses/{a['id']}", json={"active": False}, headers=admin)

    async def ids(**params: Any) -> set[str]:
        return {w["id"] for w in await walk_pages(client, admin, "/v1/warehouses", **params)}

    assert await ids() == {a["id"], b["id"], c["id"]}
    assert await ids(kind="central") == {b["id"]}
    assert await ids(branch_id=str(world.branch_id)) == {a["id"], c["id"]}
    assert await ids(contract_id=str(world.contract_id)) == {c["id"]}
    assert await ids(active="false") == {a["id"]}
    assert await ids(q="100%_") == {b["id"]}
    assert await ids(q="上海备件") == {a["id"]}
    problem(await client.get("/v1/warehouses", params={"kind": "x"}, headers=admin), 422)


async def test_customer_site_warehouse_needs_its_contract(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    base = {"code": "SITE-1", "name": "浦发银行本地备件库", "kind": "customer_site",
            "branch_id": str(world.branch_id), "address": "浦东新区 A 座"}  # fmt: skip
    problem(await client.post("/v1/warehouses", json=base, headers=admin), 422, "contract_id")
    r = await client.post("/v1/warehouses", json={**base, "contract_id": str(uuid.uuid4())},
                          headers=admin)  # fmt: skip
    problem(r, 422, "contract_id")
    r = await client.post("/v1/warehouses", json={**base, "contract_id": str(world.contract_id),
                          "branch_id": str(world.other_branch_id)}, headers=admin)  # fmt: skip
    problem(r, 422, "contract_id")
    r = await client.post("/v1/warehouses", json={**base, "kind": "branch",
                          "contract_id": str(world.contract_id)}, headers=admin)  # fmt: skip
    problem(r, 422, "contract_id")
    assert await _count("warehouses") == 0
    r = await client.post("/v1/warehouses", json={**base, "contract_id": str(world.contract_id)},
                          headers=admin)  # fmt: skip
    assert r.status_code == 201 and r.json()["contract_id"] == str(world.contract_id)
    assert await _count("warehouse_ranks") == 0  # it serves its contract only
    assert await _order(client, admin, str(world.branch_id)) == []


# -- Warehouse order


async def test_default_ranks(client: httpx.AsyncClient, admin: H) -> None:
    sh = await _branch(client, admin, "SH", "华东")
    hz = await _branch(client, admin, "HZ", "华东")
    bj = await _branch(client, admin, "BJ", "华北")
    gz = await _branch(client, admin, "GZ", None)
    w_sh = (await make_warehouse(client, admin, sh))["id"]
    w_hz = (await make_warehouse(client, admin, hz, kind="regional"))["id"]
    w_bj = (await make_warehouse(client, admin, bj, kind="central"))["id"]
    w_gz = (await make_warehouse(client, admin, gz))["id"]
    assert await _order(client, admin, sh) == [(w_sh, 10), (w_hz, 20), (w_bj, 30), (w_gz, 40)]
    assert await _order(client, admin, hz) == [(w_hz, 10), (w_sh, 20), (w_bj, 30), (w_gz, 40)]
    assert await _order(client, admin, bj) == [(w_bj, 10), (w_sh, 40), (w_hz, 40), (w_gz, 40)]
    # No region: nothing is "the same region" as it, not even another branch without one.
    assert await _order(client, admin, gz) == [(w_gz, 10), (w_bj, 30), (w_sh, 40), (w_hz, 40)]
    assert await _count("warehouse_ranks") == 16
    r = await client.get(f"/v1/branches/{sh}/warehouse-order", headers=admin)
    item = r.json()["items"][2]
    assert item == {"warehouse_id": w_bj, "code": item["code"], "name": "分公司备件库",
                    "kind": "central", "branch_id": bj, "active": True, "rank": 30}  # fmt: skip
    problem(await client.get(f"/v1/branches/{uuid.uuid4()}/warehouse-order", headers=admin), 404)


async def test_set_warehouse_order(client: httpx.AsyncClient, admin: H, world: World) -> None:
    sh, bj = str(world.branch_id), str(world.other_branch_id)
    a = (await make_warehouse(client, admin, sh))["id"]
    b = (await make_warehouse(client, admin, bj, kind="central"))["id"]
    c = (await make_warehouse(client, admin, bj))["id"]
    site = (await make_warehouse(client, admin, sh, kind="customer_site",
                                 contract_id=str(world.contract_id)))["id"]  # fmt: skip
    off = (await make_warehouse(client, admin, bj))["id"]
    await client.patch(f"/v1/warehouses/{off}", json={"active": False}, headers=admin)
    url = f"/v1/branches/{sh}/warehouse-order"
    r = await client.put(url, json={"warehouse_ids": [b, a]}, headers=admin)
    assert r.status_code == 200, r.text
    assert [(i["warehouse_id"], i["rank"]) for i in r.json()["items"]] == [(b, 1), (a, 2)]
    assert await _order(client, admin, sh) == [(b, 1), (a, 2)]
    assert len(await _order(client, admin, bj)) == 4  # the other branch keeps its own
    for bad in ([b, str(uuid.uuid4())], [b, site], [off], [a, a], [], ["x"], "x", None,
                [str(uuid.uuid4()) for _ in range(501)]):  # fmt: skip
        r = await client.put(url, json={"warehouse_ids": bad}, headers=admin)
        problem(r, 422, "warehouse_ids")
    problem(await client.put(url, json={}, headers=admin), 422)
    assert await _order(client, admin, sh) == [(b, 1), (a, 2)]
    problem(await client.put(f"/v1/branches/{uuid.uuid4()}/warehouse-order",
                             json={"warehouse_ids": [a]}, headers=admin), 404)  # fmt: skip
    # A warehouse made later still gets a default rank for the branch.
    d = (await make_warehouse(client, admin, sh))["id"]
    assert await _order(client, admin, sh) == [(b, 1), (a, 2), (d, 10)]
    assert c  # ranked for bj only


async def test_nearest_warehouses(client: httpx.AsyncClient, admin: H, world: World) -> None:
    sh, bj = world.branch_id, world.other_branch_id
    own = (await make_warehouse(client, admin, sh))["id"]
    central = (await make_warehouse(client, admin, bj, kind="central"))["id"]
    far = (await make_warehouse(client, admin, bj))["id"]
    site = (await make_warehouse(client, admin, sh, kind="customer_site",
                                 contract_id=str(world.contract_id)))["id"]  # fmt: skip
    site_off = (await make_warehouse(client, admin, sh, kind="customer_site",
                                     contract_id=str(world.contract_id)))["id"]  # fmt: skip
    await client.patch(f"/v1/warehouses/{site_off}", json={"active": False}, headers=admin)
    other_contract = await _contract(world.customer_id)
    await make_warehouse(client, admin, sh, kind="customer_site", contract_id=str(other_contract))
    off = (await make_warehouse(client, admin, sh))["id"]
    await client.patch(f"/v1/warehouses/{off}", json={"active": False}, headers=admin)

    async def nearest(branch: Any, contract: Any) -> list[str]:
        async with open_uow() as uow:
            return [str(w) for w in await svc.nearest_warehouses(uow, branch, contract)]

    assert await nearest(sh, world.contract_id) == [site, own, central, far]
    assert await nearest(sh, None) == [own, central, far]
    assert await nearest(bj, None) == [central, far, own]
    assert await nearest(uuid.uuid4(), None) == []
    # A branch made after the warehouses finds them, and its defaults are stored then.
    gz = await make_branch(client, admin, "GZ")
    before = await _count("warehouse_ranks")
    assert await nearest(uuid.UUID(gz), None) == [central, own, far]
    assert await _count("warehouse_ranks") == before + 4  # inactive ones ranked, not searched
    assert await nearest(uuid.UUID(gz), None) == [central, own, far]
    # A branch made after the warehouses, before another warehouse: it gets them all.
    xa = await make_branch(client, admin, "XA")
    new = (await make_warehouse(client, admin, bj))["id"]
    assert await nearest(uuid.UUID(xa), None) == [central, own, far, new]
    # A replaced order is followed as it is.
    await client.put(f"/v1/branches/{sh}/warehouse-order", json={"warehouse_ids": [far, own]},
                     headers=admin)  # fmt: skip
    assert await nearest(sh, world.contract_id) == [site, far, own]


async def test_service_lookups(client: httpx.AsyncClient, admin: H, world: World) -> None:
    sub = await make_part(client, admin)
    part = await make_part(client, admin, lifecycle="discontinued", substitute_id=sub["id"])
    mine = await make_warehouse(client, admin, world.branch_id)
    theirs = await make_warehouse(client, admin, world.other_branch_id)
    off = await make_warehouse(client, admin, world.branch_id)
    await client.patch(f"/v1/warehouses/{off['id']}", json={"active": False}, headers=admin)
    scoped = Principal(uuid.uuid4(), "上海经理", Role.manager, world.branch_id)
    async with open_uow() as uow:
        got = await svc.get_part(uow, uuid.UUID(part["id"]))
        assert got.number == part["number"]
        found = await svc.substitute_of(uow, got)
        assert found is not None and str(found.id) == sub["id"]
        assert await svc.substitute_of(uow, found) is None
        with pytest.raises(NotFound):
            await svc.get_part(uow, uuid.uuid4())
        with pytest.raises(Unprocessable) as exc:
            await svc.part_in_body(uow, uuid.uuid4(), field="new_part_id")
        assert exc.value.extensions["field"] == "new_part_id"
        assert (await svc.part_in_body(uow, uuid.UUID(sub["id"]))).id == found.id
        with pytest.raises(NotFound):
            await svc.get_warehouse(uow, uuid.uuid4())
        assert str((await svc.get_warehouse(uow, uuid.UUID(off["id"]))).id) == off["id"]
        for wid, write in ((off["id"], False), (str(uuid.uuid4()), False), (theirs["id"], True)):
            with pytest.raises(Unprocessable) as exc:
                await svc.warehouse_in_body(uow, scoped, uuid.UUID(wid), "from_id", write=write)
            assert exc.value.extensions["field"] == "from_id"
        for wid, write in ((theirs["id"], False), (mine["id"], True)):
            w = await svc.warehouse_in_body(uow, scoped, uuid.UUID(wid), write=write)
            assert str(w.id) == wid


# -- Who may write


async def test_an_engineer_reads_but_does_not_write(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    eng = await issue_key("engineer", world.branch_id)
    for path in ("/v1/parts", f"/v1/parts/{part['id']}", "/v1/warehouses",
                 f"/v1/warehouses/{wh['id']}", f"/v1/branches/{world.branch_id}/warehouse-order"):  # fmt: skip
        assert (await client.get(path, headers=eng)).status_code == 200, path
    writes = [
        ("POST", "/v1/parts", {"number": "ENG-1", "name": "x"}),
        ("PATCH", f"/v1/parts/{part['id']}", {"name": "x"}),
        ("POST", "/v1/warehouses", {"code": "ENG", "name": "x", "kind": "branch",
                                    "branch_id": str(world.branch_id), "address": "x"}),
        ("PATCH", f"/v1/warehouses/{wh['id']}", {"name": "x"}),
        ("PUT", f"/v1/branches/{world.branch_id}/warehouse-order", {"warehouse_ids": [wh["id"]]}),
    ]  # fmt: skip
    for method, path, body in writes:
        problem(await client.request(method, path, json=body, headers=eng), 403)
    problem(await client.get("/v1/parts"), 401)
    assert await _count("parts") == 1 and await _count("warehouses") == 1


async def test_branch_scope_on_warehouse_writes(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    sh, bj = str(world.branch_id), str(world.other_branch_id)
    manager = await issue_key("manager", sh)
    theirs = await make_warehouse(client, admin, bj, kind="central")
    mine = await make_warehouse(client, manager, sh)
    r = await client.post("/v1/warehouses", json={"code": "BJ-X", "name": "x", "kind": "branch",
                          "branch_id": bj, "address": "x"}, headers=manager)  # fmt: skip
    problem(r, 422, "branch_id")
    bj_contract = await _contract(world.other_customer_id)
    r = await client.post("/v1/warehouses", json={"code": "S-X", "name": "x",
                          "kind": "customer_site", "branch_id": sh,
                          "contract_id": str(bj_contract), "address": "x"}, headers=manager)  # fmt: skip
    problem(r, 422, "contract_id")
    problem(await client.patch(f"/v1/warehouses/{theirs['id']}", json={"name": "x"},
                               headers=manager), 404)  # fmt: skip
    r = await client.patch(f"/v1/warehouses/{mine['id']}", json={"name": "浦东库"}, headers=manager)
    assert r.status_code == 200
    # Every key sees every warehouse: stock is found across branches.
    assert (await client.get(f"/v1/warehouses/{theirs['id']}", headers=manager)).status_code == 200
    listed = await walk_pages(client, manager, "/v1/warehouses")
    assert {w["id"] for w in listed} == {theirs["id"], mine["id"]}
    # Its own branch's order may name another branch's warehouse; another branch's order
    # is not its to read or set.
    r = await client.put(f"/v1/branches/{sh}/warehouse-order",
                         json={"warehouse_ids": [theirs["id"], mine["id"]]}, headers=manager)  # fmt: skip
    assert r.status_code == 200, r.text
    problem(await client.put(f"/v1/branches/{bj}/warehouse-order",
                             json={"warehouse_ids": [theirs["id"]]}, headers=manager), 404)  # fmt: skip
    problem(await client.get(f"/v1/branches/{bj}/warehouse-order", headers=manager), 404)
    # Parts are one catalogue for all branches.
    part = await make_part(client, manager)
    assert (await client.get(f"/v1/parts/{part['id']}", headers=admin)).status_code == 200


# -- Hostile input


async def test_hostile_input_is_a_4xx(client: httpx.AsyncClient, admin: H, world: World) -> None:
    part = await make_part(client, admin)
    wh = await make_warehouse(client, admin, world.branch_id)
    huge = "长" * 100_000
    part_body = {"number": "H-1", "name": "电源"}
    wh_body = {"code": "H-1", "name": "库", "kind": "branch", "branch_id": str(world.branch_id),
               "address": "x"}  # fmt: skip
    parts_before, wh_before = await _count("parts"), await _count("warehouses")
    cases: list[tuple[str, str, Any]] = []
    value: Any
    for field in ("number", "name", "name_en", "description", "alternative"):
        for value in ("x\u0000y", huge, 5, ["x"], {"a": 1}):
            cases.append(("POST", "/v1/parts", {**part_body, field: value}))
            cases.append(("PATCH", f"/v1/parts/{part['id']}", {field: value}))
    odd: list[tuple[str, Any]] = [("serialised", "maybe"), ("lifecycle", "gone"), ("fits", "switch"),
                         ("fits", [{"product_family": 5}]), ("fits", [{"product_family": huge}]),
                         ("fits", [{"product_family": "switch", "model": "x\u0000"}]),
                         ("fits", [{"product_family": "switch", "extra": 1}]),
                         ("substitute_id", "not-a-uuid"), ("substitute_id", str(uuid.uuid4())),
                         ("unit_cost", huge), ("unknown", 1)]  # fmt: skip
    for field, value in odd:
        cases.append(("POST", "/v1/parts", {**part_body, field: value}))
        cases.append(("PATCH", f"/v1/parts/{part['id']}", {field: value}))
    for field in ("code", "name", "address"):
        for value in ("x\u0000y", huge, 7, None):
            cases.append(("POST", "/v1/warehouses", {**wh_body, field: value}))
            if field != "code":
                cases.append(("PATCH", f"/v1/warehouses/{wh['id']}", {field: value}))
    for field, value in (("kind", 1), ("branch_id", "x"), ("branch_id", str(uuid.uuid4())),
                         ("contract_id", "x"), ("active", "x")):  # fmt: skip
        cases.append(("POST", "/v1/warehouses", {**wh_body, field: value}))
    cases += [
        ("POST", "/v1/parts", [1, 2]),
        ("POST", "/v1/parts", "x"),
        ("PATCH", "/v1/parts/not-a-uuid", {"name": "x"}),
        ("GET", "/v1/parts/not-a-uuid", None),
        ("GET", f"/v1/parts/{uuid.uuid4()}", None),
        ("GET", "/v1/warehouses/1", None),
        ("PUT", f"/v1/branches/{world.branch_id}/warehouse-order", {"warehouse_ids": [huge]}),
        ("PUT", "/v1/branches/x/warehouse-order", {"warehouse_ids": [wh["id"]]}),
    ]
    for method, path, body in cases:
        r = await client.request(method, path, json=body, headers=admin)
        assert 400 <= r.status_code < 500, (method, path, str(body)[:80], r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    long = "a" * 50_000  # httpx's limit of a query is 64 KiB
    for path, params in (("/v1/parts", {"q": long}), ("/v1/parts", {"q": "x\u0000"}),
                         ("/v1/parts", {"serialised": "x"}), ("/v1/parts", {"model": long}),
                         ("/v1/warehouses", {"branch_id": "x"}), ("/v1/warehouses", {"q": long}),
                         ("/v1/parts", {"limit": 0})):  # fmt: skip
        r = await client.get(path, params=params, headers=admin)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    r = await client.post("/v1/parts", content=b"{not json", headers={
        **admin, "Content-Type": "application/json"})  # fmt: skip
    problem(r, 400)
    assert (await _count("parts"), await _count("warehouses")) == (parts_before, wh_before)
    got = await client.get(f"/v1/parts/{part['id']}", headers=admin)
    assert got.json()["version"] == 1
