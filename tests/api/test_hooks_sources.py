"""The inbound sources' admin API: create (secret shown once, never in reads), the checks
of what a source names (customer, category, mapping), paged lists, PATCH with If-Match,
rotation and deletion."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from app.core.db import open_uow
from app.hooks.secrets import digest
from tests.api.conftest import problem, walk_pages
from tests.api.test_hooks_ingress import am_alert, am_body, bearer, make_source, post
from tests.factories import World


def _body(world: World, **kw: Any) -> dict[str, Any]:
    return {"key": f"k-{uuid.uuid4().hex[:8]}", "name": "Grafana", "kind": "generic",
            "auth": "bearer", "customer_id": str(world.customer_id), "category": "hardware",
            **kw}  # fmt: skip


async def test_create_shows_the_secret_once_and_stores_only_what_it_needs(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post("/v1/hooks/sources", json=_body(world, key="grafana-prod"), headers=admin)
    assert r.status_code == 201, r.text
    out = r.json()
    token = out["secret"]
    assert len(token) >= 32 and out["url_path"] == "/v1/hooks/grafana-prod"
    assert out["priority"] == "P3" and out["resolve_on_recovery"] is False
    assert r.headers["ETag"] == 'W/"1"'
    got = await client.get(f"/v1/hooks/sources/{out['id']}", headers=admin)
    assert got.status_code == 200 and "secret" not in got.json() and token not in got.text
    listed = await client.get("/v1/hooks/sources", headers=admin)
    assert token not in listed.text
    async with open_uow() as uow:
        stored = (await uow.session.execute(
            text("SELECT secret FROM hook_sources WHERE id = :i"), {"i": out["id"]})).scalar_one()  # fmt: skip
    assert stored == digest(token)  # a token only as its digest

    signing = await client.post("/v1/hooks/sources", json=_body(world, auth="signature"),
                                headers=admin)  # fmt: skip
    assert signing.json()["secret"].startswith("whsec_")
    given = "whsec_" + "QUJD" * 11 + "QQ=="
    mine = await client.post("/v1/hooks/sources", json=_body(world, auth="signature",
                             secret=given), headers=admin)  # fmt: skip
    assert mine.status_code == 201 and mine.json()["secret"] == given


async def test_what_a_source_names_is_checked(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    url = "/v1/hooks/sources"
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_body(world, customer_id=str(uuid.uuid4())), 422, "customer_id"),
        (_body(world, category="toaster"), 422, "category"),
        (_body(world, mapping={"customer": "labels.x"}), 422, "customer"),
        (_body(world, mapping={"values": {"priority": {"critical": "P0"}}}), 422, "critical"),
        (_body(world, mapping={"values": {"owner": {}}}), 422, "owner"),
        (_body(world, mapping={"priority": ["labels.a"] * 9}), 422, "priority"),
        (_body(world, mapping={"priority": "has space"}), 422, "priority"),
        (_body(world, key="Upper"), 422, "key"),
        (_body(world, key="sources"), 422, "key"),
        (_body(world, key="a"), 422, "key"),
        (_body(world, auth="basic"), 422, "body"),
        (_body(world, basic_username="am"), 422, "body"),
        (_body(world, auth="signature", secret="whsec_short"), 422, "secret"),
        (_body(world, auth="signature", secret="x" * 40), 422, "secret"),
        (_body(world, secret="short"), 422, "secret"),
        (_body(world, kind="nagios"), 422, "kind"),
        (_body(world, priority="P9"), 422, "priority"),
        (_body(world, rate_limit_per_minute=0), 422, "rate_limit_per_minute"),
        (_body(world, owner="me"), 422, "owner"),
        (_body(world, name="a\x00b"), 422, "name"),
    ]
    for body, status, field in cases:
        problem(await client.post(url, json=body, headers=admin), status, field)
    ok = _body(world, key="dup-key", mapping={"priority": "labels.sev",
               "values": {"priority": {"crit": "P1"}}})  # fmt: skip
    r = await client.post(url, json=ok, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["mapping"] == {
        "priority": ["labels.sev"],
        "values": {"priority": {"crit": "P1"}},
    }
    problem(await client.post(url, json=ok, headers=admin), 409, "key")


async def test_patch_with_if_match_list_and_delete(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    url = f"/v1/hooks/sources/{src['id']}"
    r = await client.patch(url, json={"priority": "P2", "resolve_on_recovery": True},
                           headers={**admin, "If-Match": 'W/"1"'})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == "P2" and r.headers["ETag"] == 'W/"2"'
    problem(
        await client.patch(url, json={"name": "x"}, headers={**admin, "If-Match": 'W/"1"'}), 412
    )
    problem(await client.patch(url, json={"key": "new-key"}, headers=admin), 422, "key")
    problem(await client.patch(url, json={"auth": "basic"}, headers=admin), 422, "auth")
    problem(await client.patch(url, json={"name": None}, headers=admin), 422, "name")
    problem(await client.patch(url, json={"category": "toaster"}, headers=admin), 422, "category")
    problem(await client.patch(url, json={"basic_username": "am"}, headers=admin), 422)
    problem(await client.patch(url, json={"mapping": {"x": "y"}}, headers=admin), 422, "x")
    r = await client.patch(url, json={"mapping": {"category": "labels.kind"}}, headers=admin)
    assert r.json()["mapping"] == {"category": ["labels.kind"]}
    got = await client.get(url, headers=admin)
    assert got.headers["ETag"] == r.headers["ETag"]
    assert (
        await client.get(url, headers={**admin, "If-None-Match": got.headers["ETag"]})
    ).status_code == 304

    for _ in range(3):
        await make_source(client, admin, world)
    items = await walk_pages(client, admin, "/v1/hooks/sources", limit=2)
    assert len(items) == 4 and len({i["id"] for i in items}) == 4
    assert all("secret" not in i for i in items)

    # The log and the alerts go with the source; its tickets stay.
    r = await post(client, src["key"], am_body(am_alert("d1")), bearer(token))
    tid = r.json()["alerts"][0]["ticket_id"]
    problem(await client.delete(url, headers={**admin, "If-Match": 'W/"1"'}), 412)
    assert (await client.delete(url, headers=admin)).status_code == 204
    problem(await client.get(url, headers=admin), 404)
    problem(await client.get(f"{url}/requests", headers=admin), 404)
    problem(await client.get(f"{url}/alerts", headers=admin), 404)
    assert (await client.get(f"/v1/tickets/{tid}", headers=admin)).status_code == 200
    problem(await post(client, src["key"], am_body(am_alert("d1")), bearer(token)), 404)


async def test_the_request_log_and_the_alerts(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    await post(
        client, src["key"], am_body(am_alert("l1"), am_alert("l2", "resolved")), bearer(token)
    )
    await post(client, src["key"], {"alerts": 1}, bearer(token))
    base = f"/v1/hooks/sources/{src['id']}"
    log = (await client.get(f"{base}/requests", headers=admin)).json()["items"]
    assert [x["outcome"] for x in log] == ["rejected", "accepted"]
    assert log[0]["status_code"] == 422 and log[0]["error"]
    assert [(a["fingerprint"], a["action"]) for a in log[1]["alerts"]] == [
        ("l1", "opened"), ("l2", "resolved_unknown")]  # fmt: skip
    assert log[1]["body_bytes"] > 0 and log[1]["webhook_id"] is None
    alerts = (await client.get(f"{base}/alerts", params={"state": "firing"}, headers=admin)).json()
    assert [a["fingerprint"] for a in alerts["items"]] == ["l1"]
    one = alerts["items"][0]
    assert one["ticket_id"] == log[1]["alerts"][0]["ticket_id"] and one["fire_count"] == 1
    assert one["labels"]["alertname"] == "NodeDown" and one["generator_url"].startswith("http")
    by_fp = (await client.get(f"{base}/alerts", params={"fingerprint": "l2"}, headers=admin)).json()
    assert [a["state"] for a in by_fp["items"]] == ["resolved"]
    problem(await client.get(f"{base}/requests", params={"outcome": "odd"}, headers=admin), 422)
    missing = f"/v1/hooks/sources/{uuid.uuid4()}"
    problem(await client.get(f"{missing}/alerts", headers=admin), 404)
    problem(await client.post(f"{missing}/rotate-secret", headers=admin), 404)
