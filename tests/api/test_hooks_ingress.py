"""`POST /v1/hooks/{key}` against the real app: who may post (signatures, stale and
future timestamps, bearer, basic, a rotated secret during and after its overlap), what
a replayed `webhook-id` does (nothing, also when sent twice at once), and the refusals
(404, 413, 415, 422, 429) of hostile input, never a 5xx.

The helpers here (a source made over HTTP, an Alertmanager v4 body, signed posts) are
used by test_hooks_alerts.py too."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.config import get_settings
from app.core.db import open_uow
from app.hooks import signing
from tests.api.conftest import problem
from tests.conftest import issue_key
from tests.factories import World

# -- helpers -----------------------------------------------------------------------------


async def make_source(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, **kw: Any
) -> tuple[dict[str, Any], str]:
    """A source made over HTTP (bearer Alertmanager on the world's customer unless `kw`
    says otherwise) and its secret."""
    body: dict[str, Any] = {
        "key": f"src-{uuid.uuid4().hex[:8]}",
        "name": "上海机房 Alertmanager",
        "kind": "alertmanager",
        "auth": "bearer",
        "customer_id": str(world.customer_id),
        "category": "hardware",
        **kw,
    }
    r = await client.post("/v1/hooks/sources", json=body, headers=admin)
    assert r.status_code == 201, r.text
    out = r.json()
    return out, out["secret"]


def am_alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager v4 sends it."""
    names = {"alertname": "NodeDown", "instance": "10.1.2.3:9100", "job": "node",
             "severity": "warning", **labels}  # fmt: skip
    return {
        "status": status,
        "labels": names,
        "annotations": {
            "summary": f"{names['instance']} 宕机 / down",
            "description": "node_exporter 无响应超过 5 分钟",
        },
        "startsAt": "2026-03-02T08:00:00.123456789Z",
        "endsAt": "2026-03-02T09:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "fingerprint": fingerprint,
    }


def am_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) around `alerts`."""
    firing = any(a["status"] == "firing" for a in alerts)
    common = {"alertname": "NodeDown", "job": "node"}
    return {
        "version": "4",
        "groupKey": '{}/{severity=~"warning|critical"}:{alertname="NodeDown"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "supportline",
        "groupLabels": {"alertname": "NodeDown"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def signed(
    secret: str, body: bytes, clock: FixedClock, msg_id: str | None = None, skew: int = 0
) -> dict[str, str]:
    at = clock.now() + timedelta(seconds=skew)
    return signing.headers([secret], msg_id or f"msg_{uuid.uuid4().hex}", at, body)


async def post(
    client: httpx.AsyncClient,
    key: str,
    body: Any,
    headers: dict[str, str],
    content_type: str = "application/json",
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(
        f"/v1/hooks/{key}", content=raw, headers={"content-type": content_type, **headers}
    )


async def count(table: str) -> int:
    async with open_uow() as uow:
        return int((await uow.session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def effects() -> tuple[int, int, int, int]:
    """Tickets, timeline events, outbox rows and alert rows: what a request may change."""
    return (await count("tickets"), await count("ticket_events"), await count("outbox"),
            await count("hook_alerts"))  # fmt: skip


# -- signatures --------------------------------------------------------------------------


async def test_signature_source_accepts_its_signature_and_refuses_the_rest(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature", kind="generic")
    assert secret.startswith("whsec_")
    key = src["key"]
    body = orjson.dumps({"fingerprint": "disk-1", "name": "DiskFull", "summary": "磁盘满"})

    forged = signing.headers(["whsec_" + base64.b64encode(b"x" * 32).decode()], "m1",
                             clock.now(), body)  # fmt: skip
    for headers, says in (
        (forged, "No signature matches"),
        ({**signed(secret, body, clock), "webhook-signature": "v1,AAAA"}, "No signature"),
        (signed(secret, b"{}", clock), "No signature"),  # signed another body
        (signed(secret, body, clock, skew=-301), "off"),  # stale
        (signed(secret, body, clock, skew=+301), "off"),  # from the future
        ({}, "required"),
        ({k: v for k, v in signed(secret, body, clock).items() if k != "webhook-id"}, "required"),
        ({**signed(secret, body, clock), "webhook-timestamp": "soon"}, "Unix seconds"),
        (bearer(secret), "required"),  # a signature source takes no bearer token
    ):
        r = await post(client, key, body, headers)
        p = problem(r, 401)
        assert p["type"].endswith("/webhook-unauthorized") and says in p["detail"], p
        assert secret not in r.text
        assert "WWW-Authenticate" not in r.headers  # not an API key's 401
    assert await count("hook_requests") == 0  # nobody's requests are not logged
    assert await count("tickets") == 0

    long_id = signed(secret, body, clock, msg_id="m" * 201)
    problem(await post(client, key, body, long_id), 400)
    r = await post(client, key, body, signed(secret, body, clock, skew=-299))
    assert r.status_code == 202, r.text
    assert r.json()["alerts"][0]["action"] == "opened"


async def test_bearer_and_basic_sources(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world)
    body = am_body(am_alert("aa01"))
    for headers in ({}, bearer("wrong-token-" + "x" * 30), bearer(""), basic("am", token),
                    {"Authorization": token}):  # fmt: skip
        p = problem(await post(client, src["key"], body, headers), 401)
        assert token not in p["detail"]
    assert (await post(client, src["key"], body, bearer(token))).status_code == 202

    bsrc, password = await make_source(
        client, admin, world, auth="basic", basic_username="alertmanager"
    )
    for headers in (basic("alertmanager", "nope"), basic("other", password), bearer(password),
                    {"Authorization": "Basic !!!notbase64"},
                    {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}):  # fmt: skip
        problem(await post(client, bsrc["key"], body, headers), 401)
    r = await post(client, bsrc["key"], body, basic("alertmanager", password))
    assert r.status_code == 202, r.text


async def test_rotation_keeps_the_old_secret_for_the_overlap_only(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, old = await make_source(client, admin, world, auth="signature", kind="generic")
    r = await client.post(f"/v1/hooks/sources/{src['id']}/rotate-secret", headers=admin)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old and new.startswith("whsec_") and r.json()["previous_expires_at"]
    body = orjson.dumps({"fingerprint": "f1", "status": "resolved"})
    for secret in (old, new):
        r = await post(client, src["key"], body, signed(secret, body, clock))
        assert r.status_code == 202, r.text
    hours = get_settings().webhook_secret_overlap_hours
    clock.set(clock.now() + timedelta(hours=hours, seconds=1))
    problem(await post(client, src["key"], body, signed(old, body, clock)), 401)
    assert (await post(client, src["key"], body, signed(new, body, clock))).status_code == 202

    # A token source too: the old token during the overlap, then never.
    tsrc, told = await make_source(client, admin, world)
    r = await client.post(f"/v1/hooks/sources/{tsrc['id']}/rotate-secret", headers=admin)
    tnew = r.json()["secret"]
    am = am_body(am_alert("f2", "resolved"))
    assert (await post(client, tsrc["key"], am, bearer(told))).status_code == 202
    assert (await post(client, tsrc["key"], am, bearer(tnew))).status_code == 202
    clock.set(clock.now() + timedelta(hours=hours + 1))
    problem(await post(client, tsrc["key"], am, bearer(told)), 401)
    assert (await post(client, tsrc["key"], am, bearer(tnew))).status_code == 202


# -- replays -----------------------------------------------------------------------------


async def test_a_replayed_webhook_id_answers_the_first_result_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature")
    body = orjson.dumps(am_body(am_alert("r001"), am_alert("r002", instance="10.1.2.4:9100")))
    headers = signed(secret, body, clock, msg_id="msg_replay_1")
    first = await post(client, src["key"], body, headers)
    assert first.status_code == 202, first.text
    assert [a["action"] for a in first.json()["alerts"]] == ["opened", "opened"]
    before = await effects()
    assert before[0] == 2
    clock.set(clock.now() + timedelta(seconds=30))  # a retry a little later, signed again
    again = await post(client, src["key"], body, signed(secret, body, clock, msg_id="msg_replay_1"))
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "outcome": "replay"}
    assert await effects() == before
    # The same alerts under a new id are a repeat of open alerts, not new tickets.
    r = await post(client, src["key"], body, signed(secret, body, clock))
    assert [a["action"] for a in r.json()["alerts"]] == ["repeated", "repeated"]
    assert (await effects())[0] == 2
    log = (await client.get(f"/v1/hooks/sources/{src['id']}/requests", headers=admin)).json()
    assert [x["outcome"] for x in log["items"]] == ["accepted", "replay", "accepted"]
    replays = await client.get(f"/v1/hooks/sources/{src['id']}/requests",
                               params={"outcome": "replay"}, headers=admin)  # fmt: skip
    assert [x["webhook_id"] for x in replays.json()["items"]] == ["msg_replay_1"]


async def test_concurrent_copies_of_one_webhook_id_have_one_effect(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature")
    body = orjson.dumps(am_body(*[am_alert(f"c{i:03}", instance=f"h{i}") for i in range(5)]))
    headers = signed(secret, body, clock, msg_id="msg_concurrent")
    answers = await asyncio.gather(*[post(client, src["key"], body, headers) for _ in range(6)])
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 5 + [202], [r.text for r in answers]
    assert await count("tickets") == 5
    assert await count("hook_alerts") == 5
    results = {orjson.dumps(r.json()["alerts"]) for r in answers}
    assert len(results) == 1  # every copy answered what the one that acted did


async def test_a_replay_of_a_refused_request_is_refused_the_same(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature")
    body = orjson.dumps({"version": "4", "alerts": "nope"})
    headers = signed(secret, body, clock, msg_id="msg_bad")
    problem(await post(client, src["key"], body, headers), 422, "alerts")
    again = problem(await post(client, src["key"], body, headers), 422)
    assert again["replay_of"]
    log = (await client.get(f"/v1/hooks/sources/{src['id']}/requests", headers=admin)).json()
    assert [x["outcome"] for x in log["items"]] == ["replay", "rejected"]


# -- refusals ----------------------------------------------------------------------------


async def test_unknown_and_inactive_sources_are_the_same_404(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    body = am_body(am_alert("x1"))
    unknown = problem(await post(client, "no-such-source", body, bearer(token)), 404)
    r = await client.patch(f"/v1/hooks/sources/{src['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200
    inactive = problem(await post(client, src["key"], body, bearer(token)), 404)
    assert unknown["detail"] == inactive["detail"]
    problem(await post(client, "x" * 5000, body, bearer(token)), 404)
    assert await count("hook_requests") == 0


async def test_body_over_the_limit_is_413_even_without_a_length(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "hook_max_body_bytes", 2048)
    src, token = await make_source(client, admin, world)
    big = orjson.dumps(am_body(*[am_alert(f"b{i}") for i in range(20)]))
    assert len(big) > 2048
    problem(await post(client, src["key"], big, bearer(token)), 413)

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 512

    r = await client.post(f"/v1/hooks/{src['key']}", content=chunks(),
                          headers={"content-type": "application/json", **bearer(token)})  # fmt: skip
    problem(r, 413)


async def test_over_the_rate_is_429_with_retry_after(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world, rate_limit_per_minute=3)
    body = am_body(am_alert("rl1", "resolved"))
    for _ in range(3):
        assert (await post(client, src["key"], body, bearer(token))).status_code == 202
    r = await post(client, src["key"], body, bearer(token))
    problem(r, 429)
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    clock.set(clock.now() + timedelta(seconds=61))  # the next window
    assert (await post(client, src["key"], body, bearer(token))).status_code == 202


async def test_not_json_is_415_and_not_a_payload_is_422(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    key, h = src["key"], bearer(token)
    body = am_body(am_alert("t1"))
    for media in ("text/plain", "application/x-www-form-urlencoded", ""):
        problem(await post(client, key, body, h, content_type=media), 415)
    assert (await post(client, key, body, h, "application/json; charset=utf-8")).status_code == 202
    problem(await post(client, key, b"{not json", h), 400)
    problem(await post(client, key, [1, 2], h), 422)
    problem(await post(client, key, {"version": "3", "alerts": []}, h), 422, "version")
    problem(await post(client, key, {"version": "4"}, h), 422, "alerts")
    problem(await post(client, key, {**body, "alerts": []}, h), 422, "alerts")
    bad_status = am_body({**am_alert("t2"), "status": "burning"})
    problem(await post(client, key, bad_status, h), 422, "status")
    no_labels = am_body({k: v for k, v in am_alert("t3").items() if k != "labels"})
    problem(await post(client, key, no_labels, h), 422, "labels")
    bad_time = am_body({**am_alert("t4"), "startsAt": "yesterday"})
    problem(await post(client, key, bad_time, h), 422, "startsAt")
    log = (await client.get(f"/v1/hooks/sources/{src['id']}/requests", headers=admin)).json()
    outcomes = [(x["outcome"], x["status_code"]) for x in log["items"]]
    assert outcomes.count(("rejected", 415)) == 3 and ("rejected", 400) in outcomes


async def test_hostile_input_is_refused_never_a_server_error(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    gsrc, gtoken = await make_source(client, admin, world, kind="generic")
    am = am_alert("h1")
    hostile: list[tuple[str, str, Any]] = [
        (src["key"], token, am_body({**am, "labels": {**am["labels"], "x": "a\x00b"}})),
        (src["key"], token, am_body({**am, "labels": {"a\x00": "b"}})),
        (src["key"], token, am_body({**am, "annotations": {"summary": "\x1b[31mred"}})),
        (src["key"], token, am_body({**am, "labels": {"big": "x" * 100_000}})),
        (src["key"], token, am_body({**am, "labels": {f"l{i}": "v" for i in range(500)}})),
        (src["key"], token, am_body({**am, "labels": ["not", "a", "map"]})),
        (src["key"], token, am_body({**am, "labels": {"n": 5}})),
        (src["key"], token, am_body({**am, "fingerprint": 12345})),
        (src["key"], token, am_body({**am, "fingerprint": "f" * 500})),
        (src["key"], token, am_body({**am, "startsAt": "9999-12-31T23:59:59-14:00"})),
        (src["key"], token, am_body({**am, "endsAt": 17})),
        (src["key"], token, am_body({**am, "generatorURL": {"a": 1}})),
        (src["key"], token, {**am_body(am), "truncatedAlerts": "many"}),
        (src["key"], token, am_body(*[am] * 1001)),
        (src["key"], token, {**am_body(am), "alerts": ["alert"]}),
        (src["key"], token, {**am_body(am), "groupLabels": {"x": "\x00"}}),
        (gsrc["key"], gtoken, {"name": "nothing to know it by"}),
        (gsrc["key"], gtoken, {"fingerprint": "g1", "site": {"nested": "object"}}),
        (gsrc["key"], gtoken, {"fingerprint": "g1", "status": None}),
        (gsrc["key"], gtoken, {"fingerprint": "g1", "note": "\u0000"}),
        (gsrc["key"], gtoken, {"alerts": [{"fingerprint": "g1"}, 7]}),
        (gsrc["key"], gtoken, "just a string"),
    ]
    for key, tok, body in hostile:
        r = await post(client, key, body, bearer(tok))
        assert r.status_code == 422, (body if len(str(body)) < 300 else str(body)[:300], r.text)
    raw_hostile = [b"[" * 100_000, b'{"a": "\\ud800"}', b"\xff\xfe", b'{"a": 1e999999}',
                   b'{"a": 123456789012345678901234567890}', b""]  # fmt: skip
    for raw in raw_hostile:
        r = await post(client, src["key"], raw, bearer(token))
        assert 400 <= r.status_code < 500, (raw[:40], r.text)
    assert await count("tickets") == 0


async def test_only_admins_manage_sources(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    agent = await issue_key("agent")
    assert (await client.get("/v1/hooks/sources", headers=agent)).status_code == 403
    assert (await client.get(f"/v1/hooks/sources/{src['id']}", headers=agent)).status_code == 403
    # An API key is no source's credential, nor is a source's token an API key.
    problem(await post(client, src["key"], am_body(am_alert("k1")), admin), 401)
    assert (await client.get("/v1/hooks/sources", headers=bearer(token))).status_code == 401


async def test_with_redis_unreachable_the_rate_is_not_checked_and_alerts_still_land(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database is the truth and the limit only a guard: no Redis, no limit."""
    from app.hooks import ratelimit

    src, token = await make_source(client, admin, world, rate_limit_per_minute=1)
    monkeypatch.setattr(get_settings(), "redis_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(ratelimit, "_client", None)
    for i in range(3):
        r = await post(client, src["key"], am_body(am_alert(f"nr{i}")), bearer(token))
        assert r.status_code == 202, r.text
    assert await count("tickets") == 3
    monkeypatch.setattr(ratelimit, "_client", None)  # undone before the URL is
