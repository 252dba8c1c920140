"""People over HTTP: teams, engineers and skills, shifts, absences, on-call rotations
(CRUD, every refusal, roles, branch scope, If-Match), and who is on duty with a pinned
clock (weekly, overnight and one-off shifts, absences, on-call turns, line and skill
filters, branch ordering)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.clock import FixedClock
from tests.api.conftest import engineer_body, make_engineer, make_shift, new_key, problem
from tests.conftest import issue_key
from tests.factories import World

# Monday 2026-03-02, 10:00 in Shanghai.
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return NOW


async def team(
    client: httpx.AsyncClient, h: dict[str, str], branch_id: Any, **kw: Any
) -> dict[str, Any]:
    body = {"code": f"T{uuid.uuid4().hex[:6]}", "name": "华东区二线网络组", "line": "l2",
            "branch_id": str(branch_id), **kw}  # fmt: skip
    r = await client.post("/v1/teams", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def duty(client: httpx.AsyncClient, h: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/duty", params=params, headers=h)
    assert r.status_code == 200, r.text
    return list(r.json())


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


# -- teams --------------------------------------------------------------------------


async def test_team_create_get_list_update(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    manager = await new_key(client, admin, "manager")
    r = await client.post(
        "/v1/branches",
        json={"code": "XJ", "name": "乌鲁木齐服务网点", "timezone": "Asia/Urumqi"},
        headers=admin,
    )
    xj = r.json()["id"]
    r = await client.post(
        "/v1/teams",
        json={"code": "EC-L2-NET", "name": "华东区二线网络组", "name_en": "East China L2 Network",
              "line": "l2", "branch_id": str(world.branch_id), "manager_id": manager},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["etag"] == 'W/"1"' and created["version"] == 1
    assert created["timezone"] == "Asia/Shanghai" and created["active"] is True
    assert created["manager_id"] == manager
    assert created["created_at"] == "2026-03-02T02:00:00Z"
    # The time zone defaults to the branch's.
    west = await team(client, admin, xj, code="XJ-L1", line="l1")
    assert west["timezone"] == "Asia/Urumqi"
    other = await team(client, admin, world.other_branch_id, line="l1", timezone="Asia/Hong_Kong")
    assert other["timezone"] == "Asia/Hong_Kong"

    got = await client.get(f"/v1/teams/{created['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == created and got.headers["etag"] == 'W/"1"'

    listed = (await client.get("/v1/teams", headers=admin)).json()
    assert ids(listed["items"]) == [created["id"], west["id"], other["id"]]
    l1 = (await client.get("/v1/teams", params={"line": "l1"}, headers=admin)).json()
    assert ids(l1["items"]) == [west["id"], other["id"]]
    mine = await client.get("/v1/teams", params={"branch_id": str(world.branch_id)}, headers=admin)
    assert ids(mine.json()["items"]) == [created["id"]]
    page = (await client.get("/v1/teams", params={"limit": 2}, headers=admin)).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(
        "/v1/teams", params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin
    )
    assert ids(rest.json()["items"]) == [other["id"]] and rest.json()["next_cursor"] is None

    r = await client.patch(
        f"/v1/teams/{created['id']}",
        json={"name": "华东区二线网络与安全组", "manager_id": None, "active": False},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"'
    updated = r.json()
    assert updated["name"] == "华东区二线网络与安全组" and updated["manager_id"] is None
    assert updated["active"] is False and updated["code"] == "EC-L2-NET"
    stale = await client.patch(
        f"/v1/teams/{created['id']}", json={"name": "x"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert problem(stale, 412)["current_etag"] == 'W/"2"'
    inactive = await client.get("/v1/teams", params={"active": "false"}, headers=admin)
    assert ids(inactive.json()["items"]) == [created["id"]]


async def test_team_refusals(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await team(client, admin, world.branch_id, code="NET")
    base = {"code": "NET2", "name": "网络组", "line": "l2", "branch_id": str(world.branch_id)}
    r = await client.post("/v1/teams", json={**base, "code": "NET"}, headers=admin)
    problem(r, 409, "code")
    # The same code in another branch is fine.
    await team(client, admin, world.other_branch_id, code="NET")
    r = await client.post("/v1/teams", json={**base, "branch_id": str(uuid.uuid4())}, headers=admin)
    problem(r, 422, "branch_id")
    r = await client.post(
        "/v1/teams", json={**base, "manager_id": str(uuid.uuid4())}, headers=admin
    )
    problem(r, 422, "manager_id")
    revoked = await new_key(client, admin, "manager")
    await client.post(f"/v1/api-keys/{revoked}/revoke", headers=admin)
    r = await client.post("/v1/teams", json={**base, "manager_id": revoked}, headers=admin)
    problem(r, 422, "manager_id")
    r = await client.post("/v1/teams", json={**base, "timezone": "Mars/Olympus"}, headers=admin)
    problem(r, 422, "timezone")
    r = await client.post("/v1/teams", json={**base, "line": "l4"}, headers=admin)
    problem(r, 422, "line")
    r = await client.post("/v1/teams", json={**base, "version": 3}, headers=admin)
    problem(r, 422, "version")
    # Renaming onto a taken code, a null name, an unknown team.
    await team(client, admin, world.branch_id, code="SEC")
    r = await client.patch(f"/v1/teams/{t['id']}", json={"code": "SEC"}, headers=admin)
    problem(r, 409, "code")
    r = await client.patch(f"/v1/teams/{t['id']}", json={"name": None}, headers=admin)
    problem(r, 422, "name")
    r = await client.patch(f"/v1/teams/{t['id']}", json={"branch_id": str(world.other_branch_id)},
                           headers=admin)  # fmt: skip
    problem(r, 422, "branch_id")
    r = await client.get(f"/v1/teams/{uuid.uuid4()}", headers=admin)
    problem(r, 404)


# -- engineers ----------------------------------------------------------------------


async def test_engineer_create_get_list_update(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await team(client, admin, world.branch_id)
    key_id = await new_key(client, admin)
    body = engineer_body(
        key_id, world.branch_id, team_id=t["id"], languages=["zh-CN", "en"],
        email="wang.lei@example.cn", phone="13912345678", max_load=12,
        skills=[{"kind": "product_family", "code": "switch", "level": 4},
                {"kind": "category", "code": "hardware"}],
    )  # fmt: skip
    r = await client.post("/v1/engineers", json=body, headers=admin)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["id"] == key_id and r.headers["etag"] == 'W/"1"'
    assert (e["name"], e["line"], e["team_id"], e["max_load"]) == ("王磊", "l2", t["id"], 12)
    assert e["languages"] == ["zh-CN", "en"] and e["active"] is True
    assert (e["open_tickets"], e["open_load"], e["last_assigned_at"]) == (0, 0, None)
    assert e["skills"] == [
        {"kind": "product_family", "code": "switch", "level": 4},
        {"kind": "category", "code": "hardware", "level": 3},
    ]
    got = await client.get(f"/v1/engineers/{key_id}", headers=admin)
    assert got.status_code == 200 and got.json() == e and got.headers["etag"] == 'W/"1"'

    plain = await make_engineer(client, admin, world.branch_id, line="l1")
    assert plain["skills"] == [] and plain["max_load"] == 10 and plain["languages"] == ["zh-CN"]
    far = await make_engineer(client, admin, world.other_branch_id, line="l1", active=False)

    async def listed(**params: Any) -> list[str]:
        r = await client.get("/v1/engineers", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return ids(r.json()["items"])

    assert sorted(await listed()) == sorted([key_id, plain["id"], far["id"]])
    assert await listed(line="l2") == [key_id]
    assert sorted(await listed(branch_id=str(world.branch_id))) == sorted([key_id, plain["id"]])
    assert await listed(team_id=t["id"]) == [key_id]
    assert await listed(active="false") == [far["id"]]
    assert await listed(skill="product_family:switch") == [key_id]
    assert await listed(skill="category:software") == []
    full = (await client.get("/v1/engineers", params={"line": "l2"}, headers=admin)).json()
    assert full["items"][0]["skills"] == e["skills"]
    for bad in ("switch", "brand:huawei", "product_family:"):
        r = await client.get("/v1/engineers", params={"skill": bad}, headers=admin)
        problem(r, 422, "skill")

    # PATCH: skills replace all; the load counters cannot be set.
    r = await client.patch(
        f"/v1/engineers/{key_id}",
        json={"max_load": 15, "team_id": None, "skills": [{"kind": "category", "code": "software", "level": 5}]},
        headers={**admin, "If-Match": 'W/"1"'},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    u = r.json()
    assert r.headers["etag"] == 'W/"2"' and u["version"] == 2
    assert u["max_load"] == 15 and u["team_id"] is None and u["name"] == "王磊"
    assert u["skills"] == [{"kind": "category", "code": "software", "level": 5}]
    assert await listed(skill="product_family:switch") == []
    r = await client.patch(f"/v1/engineers/{key_id}", json={"skills": []}, headers=admin)
    assert r.status_code == 200 and r.json()["skills"] == []
    for counter in ("open_tickets", "open_load", "last_assigned_at"):
        r = await client.patch(f"/v1/engineers/{key_id}", json={counter: 3}, headers=admin)
        assert problem(r, 422, counter)["errors"][0]["type"] == "extra_forbidden"
    r = await client.post(
        "/v1/engineers",
        json={**engineer_body(await new_key(client, admin), world.branch_id), "open_tickets": 0},
        headers=admin,
    )
    problem(r, 422, "open_tickets")
    stale = await client.patch(
        f"/v1/engineers/{key_id}", json={"name": "王磊磊"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert problem(stale, 412)["current_etag"] == 'W/"3"'
    # Moving to another branch: the team must follow.
    r = await client.patch(f"/v1/engineers/{plain['id']}", json={"team_id": t["id"]}, headers=admin)
    assert r.status_code == 200 and r.json()["team_id"] == t["id"]
    r = await client.patch(
        f"/v1/engineers/{plain['id']}",
        json={"branch_id": str(world.other_branch_id)},
        headers=admin,
    )
    problem(r, 422, "team_id")
    r = await client.patch(
        f"/v1/engineers/{plain['id']}",
        json={"branch_id": str(world.other_branch_id), "team_id": None},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["branch_id"] == str(world.other_branch_id)


async def test_engineer_refusals(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    key_id = await new_key(client, admin)
    base = engineer_body(key_id, world.branch_id)
    r = await client.post("/v1/engineers", json={**base, "api_key_id": str(uuid.uuid4())},
                          headers=admin)  # fmt: skip
    problem(r, 422, "api_key_id")
    revoked = await new_key(client, admin)
    await client.post(f"/v1/api-keys/{revoked}/revoke", headers=admin)
    r = await client.post("/v1/engineers", json={**base, "api_key_id": revoked}, headers=admin)
    problem(r, 422, "api_key_id")
    r = await client.post("/v1/engineers", json={**base, "branch_id": str(uuid.uuid4())},
                          headers=admin)  # fmt: skip
    problem(r, 422, "branch_id")
    r = await client.post("/v1/engineers", json={**base, "team_id": str(uuid.uuid4())},
                          headers=admin)  # fmt: skip
    problem(r, 422, "team_id")
    far_team = await team(client, admin, world.other_branch_id)
    r = await client.post("/v1/engineers", json={**base, "team_id": far_team["id"]}, headers=admin)
    assert "another branch" in problem(r, 422, "team_id")["detail"]
    for max_load in (0, 501):
        r = await client.post("/v1/engineers", json={**base, "max_load": max_load}, headers=admin)
        problem(r, 422, "max_load")
    r = await client.post(
        "/v1/engineers",
        json={**base, "skills": [{"kind": "product_family", "code": "switch", "level": 6}]},
        headers=admin,
    )
    problem(r, 422, "level")
    r = await client.post(
        "/v1/engineers",
        json={**base, "skills": [
            {"kind": "product_family", "code": "switch"},
            {"kind": "product_family", "code": "mainframe"},
            {"kind": "category", "code": "switch"},
            {"kind": "product_family", "code": "switch"},
        ]},
        headers=admin,
    )  # fmt: skip
    body = problem(r, 422, "skills")
    locs = {tuple(e["loc"]): e for e in body["errors"]}
    assert set(locs) == {("body", "skills", i, "code") for i in (1, 2, 3)}
    assert "'mainframe' is not a product family" in locs[("body", "skills", 1, "code")]["msg"]
    assert "'switch' is not a category" in locs[("body", "skills", 2, "code")]["msg"]
    assert locs[("body", "skills", 3, "code")]["type"] == "duplicate_skill"
    r = await client.post("/v1/engineers", json=base, headers=admin)
    assert r.status_code == 201, r.text
    again = await client.post("/v1/engineers", json=base, headers=admin)
    problem(again, 409, "api_key_id")
    r = await client.patch(f"/v1/engineers/{key_id}", json={"line": None}, headers=admin)
    problem(r, 422, "line")
    r = await client.patch(
        f"/v1/engineers/{key_id}", json={"skills": [{"kind": "category", "code": "nope"}]},
        headers=admin,
    )  # fmt: skip
    problem(r, 422, "skills")
    r = await client.get(f"/v1/engineers/{uuid.uuid4()}", headers=admin)
    problem(r, 404)


async def test_idempotent_create(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    body = engineer_body(await new_key(client, admin), world.branch_id)
    h = {**admin, "Idempotency-Key": "eng-1"}
    first = await client.post("/v1/engineers", json=body, headers=h)
    again = await client.post("/v1/engineers", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()


# -- roles and branch scope ---------------------------------------------------------


async def test_agents_read_but_may_not_write(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    agent = await issue_key("agent")
    t = await team(client, admin, world.branch_id)
    e = await make_engineer(client, admin, world.branch_id, team_id=t["id"])
    s = await make_shift(client, admin, e["id"], weekday=0, starts="09:00", ends="18:00")
    a = (
        await client.post(
            f"/v1/engineers/{e['id']}/absences",
            headers=admin,
            json={"starts_at": "2026-03-09T00:00:00+08:00", "ends_at": "2026-03-10T00:00:00+08:00"},
        )
    ).json()
    rot = (await client.post(f"/v1/teams/{t['id']}/oncall-rotations", headers=admin, json={
        "name": "值班", "starts_at": "2026-03-02T09:00:00+08:00", "members": [e["id"]]})).json()  # fmt: skip
    writes = [
        ("POST", "/v1/teams", {"code": "X", "name": "x", "line": "l1",
                               "branch_id": str(world.branch_id)}),
        ("PATCH", f"/v1/teams/{t['id']}", {"name": "x"}),
        ("POST", "/v1/engineers", engineer_body(await new_key(client, admin), world.branch_id)),
        ("PATCH", f"/v1/engineers/{e['id']}", {"max_load": 3}),
        ("POST", f"/v1/engineers/{e['id']}/shifts", {"weekday": 1, "starts": "09:00",
                                                    "ends": "18:00"}),
        ("DELETE", f"/v1/shifts/{s['id']}", None),
        ("POST", f"/v1/engineers/{e['id']}/absences", {
            "starts_at": "2026-04-01T00:00:00+08:00", "ends_at": "2026-04-02T00:00:00+08:00"}),
        ("DELETE", f"/v1/absences/{a['id']}", None),
        ("POST", f"/v1/teams/{t['id']}/oncall-rotations", {
            "name": "x", "starts_at": "2026-03-02T09:00:00+08:00", "members": [e["id"]]}),
        ("PATCH", f"/v1/oncall-rotations/{rot['id']}", {"name": "x"}),
    ]  # fmt: skip
    for method, url, body in writes:
        r = await client.request(method, url, json=body, headers=agent)
        assert problem(r, 403)["permission"] == "people:write", (method, url)
    reads = [
        "/v1/teams", f"/v1/teams/{t['id']}", "/v1/engineers", f"/v1/engineers/{e['id']}",
        f"/v1/engineers/{e['id']}/shifts", f"/v1/engineers/{e['id']}/absences",
        f"/v1/teams/{t['id']}/oncall-rotations", f"/v1/oncall-rotations/{rot['id']}", "/v1/duty",
    ]  # fmt: skip
    for url in reads:
        r = await client.get(url, headers=agent)
        assert r.status_code == 200, (url, r.text)
    # A manager may write.
    manager = await issue_key("manager")
    r = await client.patch(f"/v1/teams/{t['id']}", json={"name": "网络组"}, headers=manager)
    assert r.status_code == 200
    r = await client.get("/v1/teams", headers={"Authorization": "Bearer nope"})
    problem(r, 401)


async def test_branch_scoped_keys_see_their_branch_only(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    far_team = await team(client, admin, world.other_branch_id)
    far = await make_engineer(client, admin, world.other_branch_id, team_id=far_team["id"])
    near = await make_engineer(client, admin, world.branch_id)
    far_shift = await make_shift(client, admin, far["id"], weekday=0, starts="00:00", ends="00:00")
    await make_shift(client, admin, near["id"], weekday=0, starts="00:00", ends="00:00")
    manager = await issue_key("manager", world.branch_id)
    for url in (f"/v1/teams/{far_team['id']}", f"/v1/engineers/{far['id']}",
                f"/v1/engineers/{far['id']}/shifts", f"/v1/teams/{far_team['id']}/oncall-rotations"):  # fmt: skip
        problem(await client.get(url, headers=manager), 404)
    problem(await client.delete(f"/v1/shifts/{far_shift['id']}", headers=manager), 404)
    r = await client.post(
        "/v1/teams",
        json={"code": "X", "name": "x", "line": "l1", "branch_id": str(world.other_branch_id)},
        headers=manager,
    )
    problem(r, 404)
    assert ids((await client.get("/v1/engineers", headers=manager)).json()["items"]) == [near["id"]]
    assert ids((await client.get("/v1/teams", headers=manager)).json()["items"]) == []
    assert ids(await duty(client, manager)) == [near["id"]]
    assert sorted(ids(await duty(client, admin))) == sorted([near["id"], far["id"]])


# -- shifts and absences ------------------------------------------------------------


async def test_shifts(client: httpx.AsyncClient, admin: dict[str, str], world: World) -> None:
    e = await make_engineer(client, admin, world.branch_id)
    url = f"/v1/engineers/{e['id']}/shifts"
    w = await make_shift(client, admin, e["id"], weekday=0, starts="09:00", ends="18:00",
                    valid_from="2026-03-01", valid_until="2026-06-30")  # fmt: skip
    assert (w["weekday"], w["on_date"], w["starts"], w["ends"]) == (0, None, "09:00", "18:00")
    assert (w["valid_from"], w["valid_until"]) == ("2026-03-01", "2026-06-30")
    o = await make_shift(client, admin, e["id"], on_date="2026-10-01", starts="22:00", ends="06:00")
    assert o["weekday"] is None and o["on_date"] == "2026-10-01" and o["engineer_id"] == e["id"]

    both = await client.post(url, json={"weekday": 1, "on_date": "2026-10-01", "starts": "09:00",
                                        "ends": "18:00"}, headers=admin)  # fmt: skip
    assert {tuple(x["loc"]) for x in problem(both, 422, "weekday")["errors"]} == {
        ("body", "weekday"), ("body", "on_date")}  # fmt: skip
    neither = await client.post(url, json={"starts": "09:00", "ends": "18:00"}, headers=admin)
    problem(neither, 422, "on_date")
    order = await client.post(url, json={"weekday": 1, "starts": "09:00", "ends": "18:00",
                                         "valid_from": "2026-03-10", "valid_until": "2026-03-09"},
                              headers=admin)  # fmt: skip
    problem(order, 422, "valid_until")
    one_off_validity = await client.post(url, json={"on_date": "2026-10-01", "starts": "09:00",
                                                    "ends": "18:00", "valid_from": "2026-03-10"},
                                         headers=admin)  # fmt: skip
    problem(one_off_validity, 422, "valid_from")
    for bad in (
        {"weekday": 7},
        {"starts": "25:00"},
        {"starts": "09:00+08:00"},
        {"starts": "09:00:30"},
    ):
        r = await client.post(url, json={"weekday": 1, "starts": "09:00", "ends": "18:00", **bad},
                              headers=admin)  # fmt: skip
        problem(r, 422, next(iter(bad)))
    problem(await client.post(f"/v1/engineers/{uuid.uuid4()}/shifts", headers=admin,
                              json={"weekday": 1, "starts": "09:00", "ends": "18:00"}), 404)  # fmt: skip

    listed = (await client.get(url, headers=admin)).json()
    assert ids(listed["items"]) == [w["id"], o["id"]] and listed["next_cursor"] is None
    r = await client.delete(f"/v1/shifts/{w['id']}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert ids((await client.get(url, headers=admin)).json()["items"]) == [o["id"]]
    problem(await client.delete(f"/v1/shifts/{w['id']}", headers=admin), 404)


async def test_absences(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    e = await make_engineer(client, admin, world.branch_id)
    url = f"/v1/engineers/{e['id']}/absences"
    past = await client.post(url, json={"starts_at": "2026-02-01T00:00:00+08:00",
                                        "ends_at": "2026-02-03T00:00:00+08:00"}, headers=admin)  # fmt: skip
    assert past.status_code == 201, past.text
    now = await client.post(url, json={"starts_at": "2026-03-01T00:00:00+08:00",
                                       "ends_at": "2026-03-06T00:00:00+08:00",
                                       "reason": "年假"}, headers=admin)  # fmt: skip
    a = now.json()
    assert (a["starts_at"], a["ends_at"], a["reason"]) == (
        "2026-02-28T16:00:00Z", "2026-03-05T16:00:00Z", "年假")  # fmt: skip
    assert a["engineer_id"] == e["id"]
    for body, field in (
        ({"starts_at": "2026-03-06T00:00:00+08:00", "ends_at": "2026-03-06T00:00:00+08:00"},
         "ends_at"),
        ({"starts_at": "2026-03-07T00:00:00+08:00", "ends_at": "2026-03-06T00:00:00+08:00"},
         "ends_at"),
        ({"starts_at": "2026-03-06T00:00:00", "ends_at": "2026-03-07T00:00:00+08:00"},
         "starts_at"),
    ):  # fmt: skip
        problem(await client.post(url, json=body, headers=admin), 422, field)

    every = (await client.get(url, headers=admin)).json()["items"]
    assert ids(every) == [past.json()["id"], a["id"]]
    current = await client.get(url, params={"current_or_future": "true"}, headers=admin)
    assert ids(current.json()["items"]) == [a["id"]]
    clock.set(datetime(2026, 3, 6, tzinfo=UTC))
    current = await client.get(url, params={"current_or_future": "true"}, headers=admin)
    assert current.json()["items"] == []
    r = await client.delete(f"/v1/absences/{a['id']}", headers=admin)
    assert r.status_code == 204
    problem(await client.delete(f"/v1/absences/{a['id']}", headers=admin), 404)
    assert ids((await client.get(url, headers=admin)).json()["items"]) == [past.json()["id"]]


# -- on-call rotations --------------------------------------------------------------


async def test_oncall_rotations(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    t = await team(client, admin, world.branch_id)
    a = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="王磊")
    b = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="李娜")
    outsider = await make_engineer(client, admin, world.branch_id)
    sleeper = await make_engineer(client, admin, world.branch_id, team_id=t["id"], active=False)
    url = f"/v1/teams/{t['id']}/oncall-rotations"
    body = {"name": "二线网络组 7x24 值班", "starts_at": "2026-02-23T09:00:00+08:00",
            "members": [a["id"], b["id"]]}  # fmt: skip
    r = await client.post(url, json=body, headers=admin)
    assert r.status_code == 201, r.text
    rot = r.json()
    assert r.headers["etag"] == 'W/"1"' and rot["period_hours"] == 168 and rot["active"]
    assert rot["team_id"] == t["id"] and rot["members"] == [a["id"], b["id"]]
    assert rot["starts_at"] == "2026-02-23T01:00:00Z"
    # Started a week and an hour ago: the second turn, b's.
    assert rot["on_call_now"] == b["id"]
    got = await client.get(f"/v1/oncall-rotations/{rot['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == rot and got.headers["etag"] == 'W/"1"'
    clock.set(NOW + timedelta(days=7))
    got = (await client.get(f"/v1/oncall-rotations/{rot['id']}", headers=admin)).json()
    assert got["on_call_now"] == a["id"]
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    got = (await client.get(f"/v1/oncall-rotations/{rot['id']}", headers=admin)).json()
    assert got["on_call_now"] is None  # before it starts
    clock.set(NOW)

    bad = {
        "unknown_engineer": [a["id"], str(uuid.uuid4())],
        "not_in_team": [a["id"], outsider["id"]],
        "inactive_engineer": [a["id"], sleeper["id"]],
        "duplicate_member": [a["id"], a["id"]],
    }
    for kind, members in bad.items():
        r = await client.post(url, json={**body, "members": members}, headers=admin)
        err = problem(r, 422, "members")["errors"]
        assert [(e["loc"], e["type"]) for e in err] == [(["body", "members", 1], kind)]
    for field, value in (("members", []), ("period_hours", 0), ("period_hours", 745),
                         ("starts_at", "2026-02-23T09:00:00")):  # fmt: skip
        problem(await client.post(url, json={**body, field: value}, headers=admin), 422, field)
    problem(await client.post(f"/v1/teams/{uuid.uuid4()}/oncall-rotations", json=body,
                              headers=admin), 404)  # fmt: skip

    r = await client.patch(
        f"/v1/oncall-rotations/{rot['id']}",
        json={"period_hours": 24, "members": [b["id"], a["id"]]},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"'
    # Day 7 since the start with daily turns: members[7 % 2] = a.
    assert r.json()["members"] == [b["id"], a["id"]] and r.json()["on_call_now"] == a["id"]
    stale = await client.patch(f"/v1/oncall-rotations/{rot['id']}", json={"name": "x"},
                               headers={**admin, "If-Match": 'W/"1"'})  # fmt: skip
    assert problem(stale, 412)["current_etag"] == 'W/"2"'
    r = await client.patch(f"/v1/oncall-rotations/{rot['id']}",
                           json={"members": [outsider["id"]]}, headers=admin)  # fmt: skip
    problem(r, 422, "members")
    r = await client.patch(f"/v1/oncall-rotations/{rot['id']}", json={"active": False},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["on_call_now"] is None
    second = await client.post(url, json={**body, "name": "夜间值班"}, headers=admin)
    listed = (await client.get(url, headers=admin)).json()
    assert ids(listed["items"]) == [rot["id"], second.json()["id"]]
    problem(await client.get(f"/v1/oncall-rotations/{uuid.uuid4()}", headers=admin), 404)


# -- who is on duty -----------------------------------------------------------------


async def test_duty_shifts_absences_and_on_call(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    t = await team(client, admin, world.branch_id)
    day = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="白班")
    night = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="夜班")
    away = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="休假")
    once = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="加班")
    standby = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="备班")
    idle = await make_engineer(client, admin, world.branch_id, team_id=t["id"], name="闲")
    off = await make_engineer(client, admin, world.branch_id, name="停用", active=False)
    day_shift = await make_shift(client, admin, day["id"], weekday=0, starts="09:00", ends="18:00")
    # Sunday night into Monday morning.
    night_shift = await make_shift(
        client, admin, night["id"], weekday=6, starts="22:00", ends="06:00"
    )
    await make_shift(client, admin, away["id"], weekday=0, starts="09:00", ends="18:00")
    leave = await client.post(
        f"/v1/engineers/{away['id']}/absences",
        json={"starts_at": "2026-03-02T00:00:00+08:00", "ends_at": "2026-03-03T00:00:00+08:00",
              "reason": "病假"}, headers=admin,
    )  # fmt: skip
    once_shift = await make_shift(client, admin, once["id"], on_date="2026-03-02", starts="08:00",
                             ends="12:00")  # fmt: skip
    await make_shift(client, admin, idle["id"], on_date="2026-03-03", starts="08:00", ends="12:00")
    await make_shift(client, admin, off["id"], weekday=0, starts="00:00", ends="00:00")
    rot = (await client.post(f"/v1/teams/{t['id']}/oncall-rotations", headers=admin, json={
        "name": "7x24", "starts_at": "2026-03-02T09:00:00+08:00", "period_hours": 24,
        "members": [standby["id"], idle["id"]]})).json()  # fmt: skip

    # Monday 10:00 in Shanghai (the pinned clock).
    now = {i["id"]: i for i in await duty(client, admin)}
    assert set(now) == {day["id"], once["id"], standby["id"]}
    assert now[day["id"]]["reason"] == f"shift:{day_shift['id']}"
    assert now[once["id"]]["reason"] == f"shift:{once_shift['id']}"
    assert now[standby["id"]]["reason"] == f"on_call:{rot['id']}"
    item = now[day["id"]]
    assert item == {
        "id": day["id"], "name": "白班", "line": "l2", "branch_id": str(world.branch_id),
        "team_id": t["id"], "reason": f"shift:{day_shift['id']}", "skill_level": None,
        "open_tickets": 0, "open_load": 0, "max_load": 10, "branch_match": None,
    }  # fmt: skip

    # Monday 05:00: the Sunday night shift still runs; Monday's day shift has not begun.
    early = await duty(client, admin, at="2026-03-02T05:00:00+08:00")
    assert ids(early) == [night["id"]]
    assert early[0]["reason"] == f"shift:{night_shift['id']}"
    # Monday 23:00: no night shift starts on Monday; the on-call turn is still standby's.
    late = await duty(client, admin, at="2026-03-02T23:00:00+08:00")
    assert ids(late) == [standby["id"]]
    # Tuesday 10:00: idle's one-off shift and on-call turn.
    tue = await duty(client, admin, at="2026-03-03T10:00:00+08:00")
    assert ids(tue) == [idle["id"]] and tue[0]["reason"].startswith("shift:")

    # The default instant is the clock's: move it to Monday 05:00.
    clock.set(datetime(2026, 3, 1, 21, 0, tzinfo=UTC))
    assert ids(await duty(client, admin)) == [night["id"]]
    clock.set(NOW)
    # Without the absence, the absent engineer is on duty.
    r = await client.delete(f"/v1/absences/{leave.json()['id']}", headers=admin)
    assert r.status_code == 204
    assert away["id"] in ids(await duty(client, admin))
    problem(await client.get("/v1/duty", params={"at": "2026-03-02T10:00:00"}, headers=admin),
            422, "at")  # fmt: skip


async def test_duty_line_and_skill_filters(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    switch4 = await make_engineer(client, admin, world.branch_id, line="l2", skills=[
        {"kind": "product_family", "code": "switch", "level": 4},
        {"kind": "category", "code": "hardware", "level": 2}])  # fmt: skip
    hardware5 = await make_engineer(client, admin, world.branch_id, line="l2", skills=[
        {"kind": "category", "code": "hardware", "level": 5}])  # fmt: skip
    desk = await make_engineer(client, admin, world.branch_id, line="l1", skills=[
        {"kind": "product_family", "code": "switch", "level": 1}])  # fmt: skip
    for e in (switch4, hardware5, desk):
        await make_shift(client, admin, e["id"], weekday=0, starts="00:00", ends="00:00")

    assert sorted(ids(await duty(client, admin))) == sorted(
        [switch4["id"], hardware5["id"], desk["id"]]
    )
    assert ids(await duty(client, admin, line="l1")) == [desk["id"]]
    assert ids(await duty(client, admin, line="vendor")) == []
    switch = await duty(client, admin, skill="product_family:switch")
    assert [(i["id"], i["skill_level"]) for i in switch] == [(switch4["id"], 4), (desk["id"], 1)]
    l2_switch = await duty(client, admin, skill="product_family:switch", line="l2")
    assert ids(l2_switch) == [switch4["id"]]
    # Any of several skills, with the best level among them; best first.
    both = await duty(client, admin, skill=["product_family:switch", "category:hardware"])
    assert [(i["id"], i["skill_level"]) for i in both] == [
        (hardware5["id"], 5), (switch4["id"], 4), (desk["id"], 1)]  # fmt: skip
    comma = await duty(client, admin, skill="product_family:switch,category:hardware")
    assert comma == both
    assert await duty(client, admin, skill="category:software") == []
    for bad in ("switch", "vendor:huawei", "category:", ""):
        r = await client.get("/v1/duty", params={"skill": bad}, headers=admin)
        problem(r, 422, "skill")
    problem(await client.get("/v1/duty", params={"line": "l9"}, headers=admin), 422, "line")


async def test_duty_orders_by_branch_nearness(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    async def branch(code: str, name: str, **kw: Any) -> str:
        r = await client.post("/v1/branches", json={"code": code, "name": name, **kw},
                              headers=admin)  # fmt: skip
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    east = await branch("EC", "华东区", region="华东")
    shanghai = await branch("EC-SH", "上海分公司", parent_id=east, region="华东")
    hangzhou = await branch("EC-HZ", "杭州分公司", parent_id=east)
    nanjing = await branch("NJ", "南京分公司", region="华东")
    beijing = await branch("BJ", "北京分公司", region="华北")
    for name, b in (("北京", beijing), ("杭州", hangzhou), ("上海", shanghai), ("南京", nanjing),
                    ("华东", east)):  # fmt: skip
        e = await make_engineer(client, admin, b, name=name)  # on duty all Monday
        await make_shift(client, admin, e["id"], weekday=0, starts="00:00", ends="00:00")

    items = await duty(client, admin, branch_id=shanghai)
    pairs = [(i["name"], i["branch_match"]) for i in items]
    assert pairs[0] == ("上海", "same") and pairs[4] == ("北京", "other") and len(pairs) == 5
    assert {(i["name"], i["branch_match"]) for i in items[1:4]} == {
        ("杭州", "near"), ("南京", "near"), ("华东", "near")}  # fmt: skip
    items = await duty(client, admin, branch_id=beijing)
    assert items[0]["name"] == "北京" and {i["branch_match"] for i in items[1:]} == {"other"}
    assert all(i["branch_match"] is None for i in await duty(client, admin))
    problem(await client.get("/v1/duty", params={"branch_id": str(uuid.uuid4())}, headers=admin),
            422, "branch_id")  # fmt: skip
