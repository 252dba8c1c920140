from __future__ import annotations

import httpx
import pytest

from app.catalogue import defaults, service
from app.core.db import open_uow
from app.defaults import ensure_defaults
from tests.conftest import issue_key

KINDS = [
    (
        "/v1/categories",
        {"code": "hardware.fan", "parent_code": "hardware", "name": "风扇故障", "name_en": "Fan"},
    ),
    ("/v1/product-families", {"code": "sdwan", "name": "SD-WAN", "name_en": "SD-WAN"}),
    ("/v1/service-levels", {"code": "gold", "name": "金牌服务", "name_en": "Gold"}),
]
IDS = ["categories", "product-families", "service-levels"]


async def test_defaults_are_present(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    cats = (await client.get("/v1/categories", headers=admin)).json()["items"]
    codes = [c["code"] for c in cats]
    for top in ("hardware", "software", "network", "data", "consultation"):
        assert top in codes
    assert codes == sorted(codes)
    hw = await client.get("/v1/categories", params={"parent_code": "hardware"}, headers=admin)
    assert hw.status_code == 200
    assert {c["parent_code"] for c in hw.json()["items"]} == {"hardware"}
    assert len(hw.json()["items"]) >= 2
    fams = {
        f["code"]: f
        for f in (await client.get("/v1/product-families", headers=admin)).json()["items"]
    }
    assert fams["switch"]["name"] == "交换机" and "router" in fams and "storage" in fams
    levels = (await client.get("/v1/service-levels", headers=admin)).json()["items"]
    assert {lv["code"] for lv in levels} >= {"7x24", "5x8", "basic"}
    assert [lv["code"] for lv in levels if lv["is_default"]] == ["basic"]


async def test_ensure_defaults_is_idempotent_and_keeps_edits(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.patch("/v1/categories/data", json={"name": "数据类"}, headers=admin)
    assert r.status_code == 200
    async with open_uow() as uow:
        await ensure_defaults(uow)
        await ensure_defaults(uow)
    cats = (await client.get("/v1/categories", headers=admin)).json()["items"]
    assert len(cats) == len(defaults.CATEGORIES)
    assert next(c for c in cats if c["code"] == "data")["name"] == "数据类"
    async with open_uow() as uow:
        level = await service.default_service_level(uow)
        assert level is not None and level.code == "basic"


async def test_ensure_defaults_respects_an_operator_default(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/service-levels",
        json={"code": "std", "name": "标准服务", "name_en": "Standard", "is_default": True},
        headers=admin,
    )
    assert r.status_code == 201
    # Simulate a database where 'basic' is missing but another default exists.
    async with open_uow() as uow:
        from sqlalchemy import text

        await uow.session.execute(text("DELETE FROM sla_policies WHERE service_level = 'basic'"))
        await uow.session.execute(text("DELETE FROM service_levels WHERE code = 'basic'"))
        await ensure_defaults(uow)
    levels = {
        lv["code"]: lv
        for lv in (await client.get("/v1/service-levels", headers=admin)).json()["items"]
    }
    assert levels["basic"]["is_default"] is False and levels["std"]["is_default"] is True


@pytest.mark.parametrize(("path", "body"), KINDS, ids=IDS)
async def test_create_get_patch_deactivate(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, str]
) -> None:
    r = await client.post(path, json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["code"] == body["code"] and created["active"] is True
    assert created["version"] == 1 and r.headers["etag"] == 'W/"1"'
    got = await client.get(f"{path}/{body['code']}", headers=admin)
    assert got.status_code == 200 and got.json() == created
    etag = got.headers["etag"]
    r = await client.patch(
        f"{path}/{body['code']}",
        json={"name_en": "Renamed", "active": False},
        headers={**admin, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["active"] is False and updated["name_en"] == "Renamed"
    assert updated["version"] == 2 and updated["updated_at"] > created["updated_at"]
    assert r.headers["etag"] == 'W/"2"'
    stale = await client.patch(
        f"{path}/{body['code']}", json={"name": "再改"}, headers={**admin, "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.json()["current_etag"] == 'W/"2"'
    inactive = await client.get(path, params={"active": "false"}, headers=admin)
    assert [x["code"] for x in inactive.json()["items"]] == [body["code"]]
    active = await client.get(path, params={"active": "true"}, headers=admin)
    assert body["code"] not in [x["code"] for x in active.json()["items"]]


@pytest.mark.parametrize(("path", "body"), KINDS, ids=IDS)
async def test_duplicate_code_is_409(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, str]
) -> None:
    assert (await client.post(path, json=body, headers=admin)).status_code == 201
    r = await client.post(path, json=body, headers=admin)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/conflict") and r.json()["field"] == "code"


@pytest.mark.parametrize(("path", "body"), KINDS, ids=IDS)
async def test_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, str]
) -> None:
    r = await client.post(
        path, content=b'{"code": "x",', headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post(path, json={**body, "version": 7}, headers=admin)
    assert r.status_code == 422
    assert ["body", "version"] in [e["loc"] for e in r.json()["errors"]]
    r = await client.post(path, json={**body, "name": 123, "active": "maybe"}, headers=admin)
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "name"] in locs and ["body", "active"] in locs
    r = await client.post(path, json={**body, "code": "has space"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "code"]
    r = await client.get(f"{path}/nope", headers=admin)
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
    r = await client.patch(f"{path}/nope", json={"name": "x"}, headers=admin)
    assert r.status_code == 404
    existing = {"/v1/categories": "hardware", "/v1/product-families": "switch"}.get(path, "5x8")
    r = await client.patch(f"{path}/{existing}", json={"name": None}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = await client.patch(f"{path}/{existing}", json={"code": "renamed"}, headers=admin)
    assert r.status_code == 422
    r = await client.patch(
        f"{path}/{existing}", json={"name": "x"}, headers={**admin, "If-Match": "garbage"}
    )
    assert r.status_code == 400


@pytest.mark.parametrize(("path", "body"), KINDS, ids=IDS)
async def test_roles(client: httpx.AsyncClient, path: str, body: dict[str, str]) -> None:
    r = await client.get(path)
    assert r.status_code == 401
    for role in ("engineer", "agent", "dispatcher", "integration"):
        key = await issue_key(role)
        assert (await client.get(path, headers=key)).status_code == 200
        r = await client.post(path, json=body, headers=key)
        assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
        existing = {"/v1/categories": "hardware", "/v1/product-families": "switch"}.get(path, "5x8")
        r = await client.patch(f"{path}/{existing}", json={"active": False}, headers=key)
        assert r.status_code == 403
    manager = await issue_key("manager")
    assert (await client.post(path, json=body, headers=manager)).status_code == 201


async def test_category_parent_rules(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"code": "x.child", "parent_code": "missing", "name": "子类", "name_en": "Child"}
    r = await client.post("/v1/categories", json=body, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "parent_code"
    r = await client.patch(
        "/v1/categories/hardware", json={"parent_code": "hardware"}, headers=admin
    )
    assert r.status_code == 422 and "ancestor" in r.json()["detail"]
    # hardware -> hardware.power; making hardware a child of hardware.power closes a cycle.
    r = await client.patch(
        "/v1/categories/hardware", json={"parent_code": "hardware.power"}, headers=admin
    )
    assert r.status_code == 422
    r = await client.patch("/v1/categories/data", json={"active": False}, headers=admin)
    assert r.status_code == 200
    body = {"code": "data.sync", "parent_code": "data", "name": "同步", "name_en": "Sync"}
    r = await client.post("/v1/categories", json=body, headers=admin)
    assert r.status_code == 422  # inactive parent
    r = await client.patch("/v1/categories/data.loss", json={"parent_code": None}, headers=admin)
    assert r.status_code == 200 and r.json()["parent_code"] is None


async def test_exactly_one_default_service_level(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async def defaults_now() -> list[str]:
        levels = (await client.get("/v1/service-levels", headers=admin)).json()["items"]
        return [lv["code"] for lv in levels if lv["is_default"]]

    r = await client.post(
        "/v1/service-levels",
        json={"code": "std", "name": "标准服务", "name_en": "Standard", "is_default": True},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["is_default"] is True
    assert await defaults_now() == ["std"]
    basic = (await client.get("/v1/service-levels/basic", headers=admin)).json()
    assert basic["version"] == 2  # losing the mark is a change too
    r = await client.patch("/v1/service-levels/5x8", json={"is_default": True}, headers=admin)
    assert r.status_code == 200 and r.json()["is_default"] is True
    assert await defaults_now() == ["5x8"]
    r = await client.patch("/v1/service-levels/5x8", json={"is_default": False}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "is_default"
    r = await client.patch("/v1/service-levels/5x8", json={"active": False}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "active"
    r = await client.post(
        "/v1/service-levels",
        json={"code": "x", "name": "x", "name_en": "x", "is_default": True, "active": False},
        headers=admin,
    )
    assert r.status_code == 422
    # A duplicate create never moves the mark.
    r = await client.post(
        "/v1/service-levels",
        json={"code": "basic", "name": "x", "name_en": "x", "is_default": True},
        headers=admin,
    )
    assert r.status_code == 409
    assert await defaults_now() == ["5x8"]
    async with open_uow() as uow:
        level = await service.default_service_level(uow)
        assert level is not None and level.code == "5x8"


async def test_text_is_stored_verbatim(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    evil = "'; DROP TABLE categories;--"
    html = "<script>alert(1)</script>"
    r = await client.post(
        "/v1/product-families",
        json={"code": "evil", "name": evil, "name_en": html, "vendor": "O'Brien & 华为"},
        headers=admin,
    )
    assert r.status_code == 201
    got = (await client.get("/v1/product-families/evil", headers=admin)).json()
    assert (got["name"], got["name_en"], got["vendor"]) == (evil, html, "O'Brien & 华为")
    assert (await client.get("/v1/categories", headers=admin)).status_code == 200


async def test_idempotent_create(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    h = {**admin, "Idempotency-Key": "cat-1"}
    body = {"code": "net.dns", "parent_code": "network", "name": "域名解析", "name_en": "DNS"}
    first = await client.post("/v1/categories", json=body, headers=h)
    again = await client.post("/v1/categories", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
