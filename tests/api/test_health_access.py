from __future__ import annotations

import uuid

import httpx

from tests.conftest import issue_key


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    assert r.headers["x-request-id"]


async def test_metrics_exposes_request_counter(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "supportline_http_requests_total" in r.text


async def test_missing_and_wrong_key_are_401_problems(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/unauthorized")
    r = await client.get("/v1/me", headers={"Authorization": "Bearer sl_nope_nope"})
    assert r.status_code == 401


async def test_admin_issues_key_shown_once_and_revokes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/api-keys", json={"name": "crm", "role": "integration"}, headers=admin
    )
    assert r.status_code == 201, r.text
    created = r.json()
    plain = created["key"]
    assert plain.startswith("sl_")
    listing = await client.get("/v1/api-keys", headers=admin)
    assert all("key" not in k for k in listing.json()["items"])
    me = await client.get("/v1/me", headers={"X-API-Key": plain})
    assert me.status_code == 200 and me.json()["role"] == "integration"
    r = await client.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    me = await client.get("/v1/me", headers={"X-API-Key": plain})
    assert me.status_code == 401


async def test_non_admin_cannot_issue_keys(client: httpx.AsyncClient) -> None:
    agent = await issue_key("agent")
    r = await client.post("/v1/api-keys", json={"name": "x", "role": "admin"}, headers=agent)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/forbidden")


async def test_validation_errors_are_problems(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post("/v1/api-keys", json={"name": "x", "role": "pope"}, headers=admin)
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["loc"] == ["body", "role"]
    r = await client.post(
        "/v1/api-keys",
        content=b'{"name": ',
        headers={**admin, "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post(
        "/v1/api-keys", json={"name": "x", "role": "agent", "extra": 1}, headers=admin
    )
    assert r.status_code == 422


async def test_key_for_an_unknown_branch_is_a_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/api-keys",
        json={"name": "x", "role": "agent", "branch_id": str(uuid.uuid4())},
        headers=admin,
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"].endswith("/validation-error")
    assert body["title"] == "The request is not valid"
    assert body["detail"] == "branch_id does not name a branch."
    assert body["field"] == "branch_id"
    assert body["errors"] == [
        {
            "loc": ["body", "branch_id"],
            "msg": "branch_id does not name a branch.",
            "type": "value_error",
        }
    ]
    listing = await client.get("/v1/api-keys", headers=admin)
    assert all(k["name"] != "x" for k in listing.json()["items"])


async def test_unknown_route_is_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_idempotency_replay_mismatch_and_scope(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    h = {**admin, "Idempotency-Key": "k-1"}
    body = {"code": "SH", "name": "上海分公司"}
    first = await client.post("/v1/branches", json=body, headers=h)
    assert first.status_code == 201, first.text
    again = await client.post("/v1/branches", json=body, headers=h)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listing = await client.get("/v1/branches", headers=admin)
    assert len(listing.json()["items"]) == 1
    other = await client.post("/v1/branches", json={"code": "BJ", "name": "北京"}, headers=h)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    # Another principal's same key is its own: it creates, never replays ours.
    admin2 = await issue_key("admin")
    r = await client.post(
        "/v1/branches",
        json={"code": "GZ", "name": "广州"},
        headers={**admin2, "Idempotency-Key": "k-1"},
    )
    assert r.status_code == 201 and r.json()["code"] == "GZ"


async def test_etag_and_if_match(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post("/v1/branches", json={"code": "SZ", "name": "深圳"}, headers=admin)
    bid = r.json()["id"]
    got = await client.get(f"/v1/branches/{bid}", headers=admin)
    etag = got.headers["etag"]
    ok = await client.patch(
        f"/v1/branches/{bid}", json={"region": "华南"}, headers={**admin, "If-Match": etag}
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = await client.patch(
        f"/v1/branches/{bid}", json={"region": "华北"}, headers={**admin, "If-Match": etag}
    )
    assert stale.status_code == 412
    final = await client.get(f"/v1/branches/{bid}", headers=admin)
    assert final.json()["region"] == "华南"


async def test_concurrent_duplicate_codes_answer_409_not_500(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    import asyncio

    results = await asyncio.gather(
        *[
            client.post("/v1/branches", json={"code": "CD", "name": "成都"}, headers=admin)
            for _ in range(6)
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409, 409, 409]
    assert all(
        r.headers["content-type"].startswith("application/problem+json")
        for r in results
        if r.status_code == 409
    )
