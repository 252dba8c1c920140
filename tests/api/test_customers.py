from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import EVIL_HTML, EVIL_SQL, make_branch, make_customer
from tests.conftest import issue_key


async def test_customer_crud(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    body = {
        "branch_id": sh,
        "code": "C-SH-000123",
        "name": "上海浦东发展银行数据中心",
        "name_en": "SPDB Data Centre",
        "industry": "金融",
        "address": "上海市浦东新区张江高科技园区博霞路18号",
    }
    r = await client.post("/v1/customers", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body
    assert created["active"] is True and created["version"] == 1
    assert r.headers["etag"] == 'W/"1"'
    got = await client.get(f"/v1/customers/{created['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == created and got.headers["etag"] == 'W/"1"'
    r = await client.patch(
        f"/v1/customers/{created['id']}",
        json={"address": "上海市浦东新区祖冲之路887号", "active": False},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] == "上海市浦东新区祖冲之路887号" and r.json()["active"] is False
    assert r.json()["version"] == 2 and r.headers["etag"] == 'W/"2"'
    assert r.json()["updated_at"] > created["updated_at"]
    stale = await client.patch(
        f"/v1/customers/{created['id']}",
        json={"notes": "x"},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412 and stale.json()["type"].endswith("/precondition-failed")
    assert (await client.get(f"/v1/customers/{created['id']}", headers=admin)).json()[
        "notes"
    ] is None


async def test_customer_bad_input(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    r = await client.post(
        "/v1/customers", content=b"{not json", headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post(
        "/v1/customers",
        json={"branch_id": sh, "code": "C1", "name": "客户", "id": str(uuid.uuid4())},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "id"]
    r = await client.post(
        "/v1/customers", json={"branch_id": "not-a-uuid", "code": 5, "name": ""}, headers=admin
    )
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "branch_id"] in locs and ["body", "code"] in locs and ["body", "name"] in locs
    r = await client.post("/v1/customers", json={"code": "C1", "name": "客户"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "branch_id"]
    r = await client.post(
        "/v1/customers",
        json={"branch_id": str(uuid.uuid4()), "code": "C1", "name": "客户"},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["field"] == "branch_id"
    await make_customer(client, admin, sh, "C1")
    r = await client.post(
        "/v1/customers", json={"branch_id": sh, "code": "C1", "name": "重复"}, headers=admin
    )
    assert r.status_code == 409 and r.json()["field"] == "code"
    r = await client.get(f"/v1/customers/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404
    r = await client.get("/v1/customers/not-a-uuid", headers=admin)
    assert r.status_code == 422
    r = await client.patch(f"/v1/customers/{uuid.uuid4()}", json={"name": "x"}, headers=admin)
    assert r.status_code == 404
    c = await make_customer(client, admin, sh, "C2")
    r = await client.patch(f"/v1/customers/{c['id']}", json={"code": "C3"}, headers=admin)
    assert r.status_code == 422  # code is permanent
    r = await client.patch(f"/v1/customers/{c['id']}", json={"name": None}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = await client.patch(f"/v1/customers/{c['id']}", json={"active": "perhaps"}, headers=admin)
    assert r.status_code == 422
    r = await client.get("/v1/customers", params={"cursor": "@@@"}, headers=admin)
    assert r.status_code == 400
    r = await client.get("/v1/customers", params={"limit": 0}, headers=admin)
    assert r.status_code == 422


async def test_customer_branch_scope(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    bj = await make_branch(client, admin, "BJ")
    sh_manager = await issue_key("manager", branch_id=sh)
    mine = await make_customer(client, sh_manager, sh, "C-SH")
    theirs = await make_customer(client, admin, bj, "C-BJ")
    # Creating in another branch: the branch is not found for this key.
    r = await client.post(
        "/v1/customers", json={"branch_id": bj, "code": "C-X", "name": "越权"}, headers=sh_manager
    )
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
    r = await client.get(f"/v1/customers/{theirs['id']}", headers=sh_manager)
    assert r.status_code == 404
    r = await client.patch(f"/v1/customers/{theirs['id']}", json={"name": "x"}, headers=sh_manager)
    assert r.status_code == 404
    r = await client.patch(
        f"/v1/customers/{mine['id']}", json={"branch_id": bj}, headers=sh_manager
    )
    assert r.status_code == 404
    listing = await client.get("/v1/customers", headers=sh_manager)
    assert [c["id"] for c in listing.json()["items"]] == [mine["id"]]
    listing = await client.get("/v1/customers", params={"branch_id": bj}, headers=sh_manager)
    assert listing.json()["items"] == []
    # The admin (no branch scope) sees both and may move a customer.
    listing = await client.get("/v1/customers", headers=admin)
    assert {c["id"] for c in listing.json()["items"]} == {mine["id"], theirs["id"]}
    r = await client.patch(f"/v1/customers/{mine['id']}", json={"branch_id": bj}, headers=admin)
    assert r.status_code == 200 and r.json()["branch_id"] == bj
    assert (await client.get(f"/v1/customers/{mine['id']}", headers=sh_manager)).status_code == 404


async def test_customer_roles(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    c = await make_customer(client, admin, sh, "C1")
    assert (await client.get("/v1/customers")).status_code == 401
    assert (await client.get(f"/v1/customers/{c['id']}")).status_code == 401
    engineer = await issue_key("engineer")
    assert (await client.get(f"/v1/customers/{c['id']}", headers=engineer)).status_code == 200
    r = await client.post(
        "/v1/customers", json={"branch_id": sh, "code": "C2", "name": "x"}, headers=engineer
    )
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    r = await client.patch(f"/v1/customers/{c['id']}", json={"name": "x"}, headers=engineer)
    assert r.status_code == 403
    r = await client.post(f"/v1/customers/{c['id']}/contacts", json={"name": "x"}, headers=engineer)
    assert r.status_code == 403
    for role in ("agent", "integration", "dispatcher"):
        key = await issue_key(role)
        await make_customer(client, key, sh, f"C-{role}")


async def test_customer_list_filters_and_pagination(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh = await make_branch(client, admin, "SH")
    bj = await make_branch(client, admin, "BJ")
    ids = []
    for i in range(7):
        c = await make_customer(client, admin, sh if i % 2 == 0 else bj, f"C-{i:03d}")
        ids.append(c["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/customers", params=params, headers=admin)
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) <= 3
        seen.extend(c["id"] for c in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first, no gaps, no repeats
    r = await client.get("/v1/customers", params={"branch_id": bj}, headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [ids[5], ids[3], ids[1]]
    await make_customer(
        client, admin, sh, "HZ-77", name="杭州银行股份有限公司", name_en="Bank of Hangzhou"
    )
    for q in ("杭州银行", "hz-7", "hangzhou"):
        r = await client.get("/v1/customers", params={"q": q}, headers=admin)
        assert [c["code"] for c in r.json()["items"]] == ["HZ-77"], q
    r = await client.get("/v1/customers", params={"q": "%"}, headers=admin)
    assert r.json()["items"] == []  # wildcards are literal
    await client.patch(f"/v1/customers/{ids[0]}", json={"active": False}, headers=admin)
    r = await client.get("/v1/customers", params={"active": "false"}, headers=admin)
    assert [c["id"] for c in r.json()["items"]] == [ids[0]]
    r = await client.get("/v1/customers", params={"active": "true", "limit": 100}, headers=admin)
    assert ids[0] not in [c["id"] for c in r.json()["items"]] and len(r.json()["items"]) == 7


async def test_text_fields_stored_verbatim(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sh = await make_branch(client, admin, "SH")
    c = await make_customer(
        client, admin, sh, "C1", name=EVIL_SQL, notes=EVIL_HTML, address="O'Neil路 1号"
    )
    got = (await client.get(f"/v1/customers/{c['id']}", headers=admin)).json()
    assert (
        got["name"] == EVIL_SQL and got["notes"] == EVIL_HTML and got["address"] == "O'Neil路 1号"
    )
    r = await client.get("/v1/customers", params={"q": "DROP TABLE"}, headers=admin)
    assert [x["id"] for x in r.json()["items"]] == [c["id"]]
    r = await client.post(
        f"/v1/customers/{c['id']}/contacts",
        json={"name": EVIL_HTML, "title": EVIL_SQL},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["name"] == EVIL_HTML and r.json()["title"] == EVIL_SQL


async def test_contacts(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    c = await make_customer(client, admin, sh, "C1")
    body = {
        "name": "王建国",
        "title": "网络运维主管",
        "phone": "021-5080 1234 转 8001",
        "email": "wang.jianguo@example.com.cn",
    }
    r = await client.post(f"/v1/customers/{c['id']}/contacts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["customer_id"] == c["id"] and contact["language"] == "zh-CN"
    assert {k: contact[k] for k in body} == body and r.headers["etag"] == 'W/"1"'
    r = await client.post(
        f"/v1/customers/{c['id']}/contacts",
        json={"name": "Emily Chen", "phone": "+86 138 0013 8000", "language": "en"},
        headers=admin,
    )
    assert r.status_code == 201
    second = r.json()
    got = await client.get(f"/v1/contacts/{contact['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == contact and got.headers["etag"] == 'W/"1"'
    listing = await client.get(f"/v1/customers/{c['id']}/contacts", headers=admin)
    assert [x["id"] for x in listing.json()["items"]] == [second["id"], contact["id"]]
    page1 = await client.get(
        f"/v1/customers/{c['id']}/contacts", params={"limit": 1}, headers=admin
    )
    assert [x["id"] for x in page1.json()["items"]] == [second["id"]]
    page2 = await client.get(
        f"/v1/customers/{c['id']}/contacts",
        params={"limit": 1, "cursor": page1.json()["next_cursor"]},
        headers=admin,
    )
    assert [x["id"] for x in page2.json()["items"]] == [contact["id"]]
    assert page2.json()["next_cursor"] is None
    r = await client.patch(
        f"/v1/contacts/{contact['id']}",
        json={"language": "en", "active": False, "email": None},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "en" and r.json()["email"] is None and r.json()["version"] == 2
    r = await client.patch(
        f"/v1/contacts/{contact['id']}", json={"title": "x"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    active = await client.get(
        f"/v1/customers/{c['id']}/contacts", params={"active": "true"}, headers=admin
    )
    assert [x["id"] for x in active.json()["items"]] == [second["id"]]


async def test_contact_bad_input(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    c = await make_customer(client, admin, sh, "C1")
    url = f"/v1/customers/{c['id']}/contacts"
    r = await client.post(
        url, content=b'{"name":', headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400
    for field, value in (
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("email", "a b@example.com"),
        ("phone", "call me"),
        ("phone", "12"),
        ("language", "fr"),
        ("name", ""),
        ("customer_id", str(uuid.uuid4())),
    ):
        r = await client.post(url, json={"name": "李四", field: value}, headers=admin)
        assert r.status_code == 422, (field, value)
        assert r.json()["errors"][0]["loc"] == ["body", field], (field, value)
    r = await client.post(
        f"/v1/customers/{uuid.uuid4()}/contacts", json={"name": "李四"}, headers=admin
    )
    assert r.status_code == 404
    r = await client.get(f"/v1/customers/{uuid.uuid4()}/contacts", headers=admin)
    assert r.status_code == 404
    r = await client.get(f"/v1/contacts/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404
    r = await client.patch(f"/v1/contacts/{uuid.uuid4()}", json={"name": "x"}, headers=admin)
    assert r.status_code == 404
    ok = await client.post(url, json={"name": "李四"}, headers=admin)
    cid = ok.json()["id"]
    r = await client.patch(f"/v1/contacts/{cid}", json={"email": "bad"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "email"]
    r = await client.patch(f"/v1/contacts/{cid}", json={"language": None}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "language"
    r = await client.patch(f"/v1/contacts/{cid}", json={"customer_id": c["id"]}, headers=admin)
    assert r.status_code == 422


async def test_contact_branch_scope(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sh = await make_branch(client, admin, "SH")
    bj = await make_branch(client, admin, "BJ")
    bj_customer = await make_customer(client, admin, bj, "C-BJ")
    r = await client.post(
        f"/v1/customers/{bj_customer['id']}/contacts", json={"name": "赵六"}, headers=admin
    )
    contact = r.json()
    sh_manager = await issue_key("manager", branch_id=sh)
    for method, url, body in (
        ("POST", f"/v1/customers/{bj_customer['id']}/contacts", {"name": "x"}),
        ("GET", f"/v1/customers/{bj_customer['id']}/contacts", None),
        ("GET", f"/v1/contacts/{contact['id']}", None),
        ("PATCH", f"/v1/contacts/{contact['id']}", {"name": "x"}),
    ):
        r = await client.request(method, url, json=body, headers=sh_manager)
        assert r.status_code == 404, (method, url)
    bj_manager = await issue_key("manager", branch_id=bj)
    r = await client.get(f"/v1/contacts/{contact['id']}", headers=bj_manager)
    assert r.status_code == 200
