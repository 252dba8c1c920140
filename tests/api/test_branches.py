"""Branches over HTTP (app/branches): creation with its defaults and parent, every
refusal as an RFC 9457 problem, who may write, what a branch-scoped key sees, the
list's order and pages, updates and 404s. (Idempotent creation, If-Match and concurrent
duplicate codes are in test_health_access; the generic paging and bad cursors in
test_lists; If-None-Match in test_conditional_reads.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import problem, walk_pages
from tests.conftest import issue_key

SHANGHAI = {
    "code": "SH",
    "name": "上海分公司",
    "name_en": "Shanghai Branch",
    "region": "华东",
    "timezone": "Asia/Shanghai",
}


async def _create(
    client: httpx.AsyncClient, admin: dict[str, str], code: str, **kw: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/branches", json={"code": code, "name": f"{code}分公司", **kw}, headers=admin
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_returns_the_branch_with_its_etag_and_reads_back(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post("/v1/branches", json=SHANGHAI, headers=admin)
    assert r.status_code == 201, r.text
    branch = r.json()
    assert {k: branch[k] for k in SHANGHAI} == SHANGHAI
    assert branch["parent_id"] is None and branch["version"] == 1
    assert r.headers["etag"] == 'W/"1"'
    got = await client.get(f"/v1/branches/{branch['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == branch and got.headers["etag"] == 'W/"1"'


async def test_create_defaults_and_a_parent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    east = await _create(client, admin, "EAST")
    assert east["timezone"] == "Asia/Shanghai"
    assert east["name_en"] is None and east["region"] is None
    child = await _create(client, admin, "HZ", parent_id=east["id"], timezone="Asia/Urumqi")
    assert child["parent_id"] == east["id"] and child["timezone"] == "Asia/Urumqi"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "S H"}, "code"),
        ({"code": "上海"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "X" * 33}, "code"),
        ({"name": ""}, "name"),
        ({"name": "名" * 201}, "name"),
        ({"region": "r" * 101}, "region"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"parent_id": "not-a-uuid"}, "parent_id"),
        ({"version": 7}, "version"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
async def test_create_refuses_an_invalid_body_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    r = await client.post("/v1/branches", json={**SHANGHAI, **change}, headers=admin)
    body = problem(r, 422, field)
    assert body["status"] == 422
    assert (await client.get("/v1/branches", headers=admin)).json()["items"] == []


async def test_create_refuses_a_missing_name_and_an_unknown_parent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    problem(await client.post("/v1/branches", json={"code": "SH"}, headers=admin), 422, "name")
    r = await client.post(
        "/v1/branches", json={**SHANGHAI, "parent_id": str(uuid.uuid4())}, headers=admin
    )
    problem(r, 422, "parent_id")
    assert (await client.get("/v1/branches", headers=admin)).json()["items"] == []


async def test_a_taken_code_is_a_409_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first = await _create(client, admin, "SH")
    r = await client.post("/v1/branches", json={"code": "SH", "name": "又一个"}, headers=admin)
    problem(r, 409, "code")
    listed = (await client.get("/v1/branches", headers=admin)).json()["items"]
    assert listed == [first]


@pytest.mark.parametrize("role", ["manager", "dispatcher", "engineer", "agent", "integration"])
async def test_only_an_admin_writes_branches_but_every_key_reads_them(
    client: httpx.AsyncClient, admin: dict[str, str], role: str
) -> None:
    sh = await _create(client, admin, "SH")
    h = await issue_key(role)
    r = await client.post("/v1/branches", json={"code": "BJ", "name": "北京"}, headers=h)
    assert problem(r, 403)["type"].endswith("/forbidden")
    r = await client.patch(f"/v1/branches/{sh['id']}", json={"region": "华北"}, headers=h)
    problem(r, 403)
    assert (await client.get(f"/v1/branches/{sh['id']}", headers=h)).json() == sh
    assert [b["id"] for b in (await client.get("/v1/branches", headers=h)).json()["items"]] == [
        sh["id"]
    ]


async def test_without_a_key_every_operation_is_401(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh = await _create(client, admin, "SH")
    for method, path, body in (
        ("GET", "/v1/branches", None),
        ("GET", f"/v1/branches/{sh['id']}", None),
        ("POST", "/v1/branches", {"code": "BJ", "name": "北京"}),
        ("PATCH", f"/v1/branches/{sh['id']}", {"region": "华北"}),
    ):
        problem(await client.request(method, path, json=body), 401)


async def test_a_branch_scoped_key_sees_only_its_own_branch(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh = await _create(client, admin, "SH")
    bj = await _create(client, admin, "BJ")
    scoped = await issue_key("manager", sh["id"])
    assert [b["id"] for b in await walk_pages(client, scoped, "/v1/branches")] == [sh["id"]]
    assert (await client.get(f"/v1/branches/{sh['id']}", headers=scoped)).status_code == 200
    # Another branch is not forbidden but absent: its existence is not the key's to know.
    problem(await client.get(f"/v1/branches/{bj['id']}", headers=scoped), 404)
    scoped_admin = await issue_key("admin", sh["id"])
    r = await client.patch(
        f"/v1/branches/{bj['id']}", json={"region": "华北"}, headers=scoped_admin
    )
    problem(r, 404)
    assert (await client.get(f"/v1/branches/{bj['id']}", headers=admin)).json() == bj
    r = await client.patch(
        f"/v1/branches/{sh['id']}", json={"region": "华东"}, headers=scoped_admin
    )
    assert r.status_code == 200 and r.json()["region"] == "华东"


async def test_the_list_is_ordered_by_code_and_pages_without_gaps(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for code in ("SZ", "BJ", "SH", "CD", "GZ"):
        await _create(client, admin, code)
    codes = [b["code"] for b in await walk_pages(client, admin, "/v1/branches", limit=2)]
    assert codes == ["BJ", "CD", "GZ", "SH", "SZ"]
    first = (await client.get("/v1/branches", params={"limit": 2}, headers=admin)).json()
    assert [b["code"] for b in first["items"]] == ["BJ", "CD"] and first["next_cursor"]
    problem(await client.get("/v1/branches", params={"limit": 0}, headers=admin), 422, "limit")
    problem(await client.get("/v1/branches", params={"limit": "two"}, headers=admin), 422, "limit")


async def test_update_changes_what_it_names_and_keeps_the_rest(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post("/v1/branches", json=SHANGHAI, headers=admin)
    sh = r.json()
    r = await client.patch(
        f"/v1/branches/{sh['id']}",
        json={"name": "上海区域中心", "name_en": None, "timezone": "Asia/Hong_Kong"},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["name"] == "上海区域中心" and changed["name_en"] is None
    assert changed["timezone"] == "Asia/Hong_Kong" and changed["region"] == "华东"
    assert changed["code"] == "SH" and changed["version"] == 2
    assert changed["updated_at"] > sh["updated_at"] and changed["created_at"] == sh["created_at"]
    assert r.headers["etag"] == 'W/"2"'
    # Without If-Match the update is unconditional.
    r = await client.patch(f"/v1/branches/{sh['id']}", json={}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"timezone": None}, "timezone"),
        ({"name": ""}, "name"),
        ({"timezone": "Asia/Atlantis"}, "timezone"),
        ({"code": "BJ"}, "code"),
        ({"parent_id": None}, "parent_id"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
async def test_update_refuses_an_invalid_change_and_keeps_the_branch(
    client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    sh = await _create(client, admin, "SH")
    problem(await client.patch(f"/v1/branches/{sh['id']}", json=change, headers=admin), 422, field)
    assert (await client.get(f"/v1/branches/{sh['id']}", headers=admin)).json() == sh


async def test_an_unknown_or_malformed_id_is_a_problem(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    missing = uuid.uuid4()
    problem(await client.get(f"/v1/branches/{missing}", headers=admin), 404)
    r = await client.patch(f"/v1/branches/{missing}", json={"region": "华北"}, headers=admin)
    problem(r, 404)
    problem(await client.get("/v1/branches/SH", headers=admin), 422, "branch_id")
