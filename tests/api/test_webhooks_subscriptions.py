"""Outbound webhook subscriptions over the API: create (secret shown once), read, list,
change with If-Match, delete, rotate the secret, enable; the SSRF check at registration
(no network allowed here: WEBHOOK_ALLOW_NETWORKS is empty unless a test sets it); event
type patterns validated; admin only. Delivery behaviour is in
tests/workers/test_webhooks_delivery.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.config import get_settings
from app.hooks.secrets import new_signing_secret
from tests.api.conftest import problem, walk_pages
from tests.conftest import issue_key

BASE = "/v1/webhooks/subscriptions"
PUBLIC = "https://93.184.216.34/hooks/supportline"  # a global address: no DNS needed


@pytest.fixture(autouse=True)
def _no_allowed_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "webhook_allow_networks", [])


def body(**kw: Any) -> dict[str, Any]:
    return {"name": "CRM 同步", "url": PUBLIC, "event_types": ["ticket.*"], **kw}


async def create(client: httpx.AsyncClient, admin: dict[str, str], **kw: Any) -> dict[str, Any]:
    r = await client.post(BASE, json=body(**kw), headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_answers_the_secret_once_and_reads_never_show_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        BASE,
        json=body(event_types=["ticket.*", "sla.breached", "ticket.*"], description="多行\n说明"),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["event_types"] == ["ticket.*", "sla.breached"]  # duplicates dropped
    assert created["active"] is True and created["version"] == 1
    assert r.headers["etag"] == 'W/"1"'
    got = await client.get(f"{BASE}/{created['id']}", headers=admin)
    assert got.status_code == 200 and got.headers["etag"] == 'W/"1"'
    assert "secret" not in got.json() and created["secret"] not in got.text
    listed = await client.get(BASE, headers=admin)
    assert [s["id"] for s in listed.json()["items"]] == [created["id"]]
    assert created["secret"] not in listed.text


async def test_an_own_secret_is_kept_and_a_bad_one_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mine = new_signing_secret()
    assert (await create(client, admin, secret=mine))["secret"] == mine
    for bad in (
        "whsec_tooshort",
        "not-a-whsec-secret-but-long-enough-xxxxxxxx",
        "whsec_" + "!" * 44,
    ):
        r = await client.post(BASE, json=body(secret=bad), headers=admin)
        problem(r, 422, "secret")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://localhost:9000/hook",
        "http://[::ffff:192.168.0.1]/",
    ],
)
async def test_non_global_targets_are_refused_at_registration(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    r = await client.post(BASE, json=body(url=url), headers=admin)
    p = problem(r, 422, "url")
    assert p["type"].endswith("/webhook-target-refused")
    assert "global" in p["detail"]
    listed = await client.get(BASE, headers=admin)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.216.34/x", "http or https"),
        ("http://user:pw@93.184.216.34/", "user-info"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
        ("javascript:alert(1)//", "http or https"),
    ],
)
async def test_malformed_or_unresolvable_urls_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, reason: str
) -> None:
    r = await client.post(BASE, json=body(url=url), headers=admin)
    assert reason in problem(r, 422, "url")["detail"]


async def test_an_allowed_network_admits_a_private_receiver(
    client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_allow_networks", ["10.20.0.0/16"])
    assert (await create(client, admin, url="http://10.20.3.4:8080/in"))["url"]
    r = await client.post(BASE, json=body(url="http://10.21.0.1/"), headers=admin)
    problem(r, 422, "url")


@pytest.mark.parametrize(
    "patterns",
    [[], ["Ticket.*"], ["ticket created"], ["ticket.[abc"], ["a" * 65], ["ticket.*\n"], [""]],
)
async def test_event_type_patterns_are_validated(
    client: httpx.AsyncClient, admin: dict[str, str], patterns: list[str]
) -> None:
    r = await client.post(BASE, json=body(event_types=patterns), headers=admin)
    problem(r, 422, "event_types")


async def test_valid_patterns(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    patterns = ["*", "ticket.*", "sla.breached", "part_request.*", "rma.?", "[!x]*.created"]
    assert (await create(client, admin, event_types=patterns))["event_types"] == patterns


async def test_patch_with_if_match_and_the_ssrf_check_on_a_new_url(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await create(client, admin)
    path = f"{BASE}/{sub['id']}"
    r = await client.patch(path, json={"event_types": ["sla.*"], "name": "SLA"},
                           headers={**admin, "If-Match": 'W/"1"'})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["event_types"] == ["sla.*"] and r.headers["etag"] == 'W/"2"'
    stale = await client.patch(path, json={"name": "x"}, headers={**admin, "If-Match": 'W/"1"'})
    problem(stale, 412)
    refused = await client.patch(path, json={"url": "http://10.0.0.1/"}, headers=admin)
    problem(refused, 422, "url")
    assert (await client.get(path, headers=admin)).json()["url"] == PUBLIC
    problem(await client.patch(path, json={"secret": new_signing_secret()}, headers=admin), 422)


async def test_pause_and_enable(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin)
    path = f"{BASE}/{sub['id']}"
    paused = (await client.patch(path, json={"active": False}, headers=admin)).json()
    assert paused["active"] is False and paused["disabled_reason"] == "manual"
    assert paused["disabled_at"] is not None
    r = await client.get(BASE, params={"active": "false"}, headers=admin)
    assert [s["id"] for s in r.json()["items"]] == [sub["id"]]
    enabled = await client.post(f"{path}/enable", headers=admin)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["active"] is True and enabled.json()["disabled_reason"] is None
    again = await client.post(f"{path}/enable", headers=admin)  # a no-op
    assert again.json()["version"] == enabled.json()["version"]


async def test_rotate_secret_answers_the_new_one_and_keeps_the_old_for_the_overlap(
    client: httpx.AsyncClient, admin: dict[str, str], clock: Any
) -> None:
    sub = await create(client, admin)
    r = await client.post(f"{BASE}/{sub['id']}/rotate-secret", headers=admin)
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"] != sub["secret"] and rotated["secret"].startswith("whsec_")
    hours = get_settings().webhook_secret_overlap_hours
    assert rotated["previous_secret_expires_at"] is not None
    got = (await client.get(f"{BASE}/{sub['id']}", headers=admin)).json()
    assert got["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    clock.set(clock.now() + timedelta(hours=hours, seconds=1))
    got = (await client.get(f"{BASE}/{sub['id']}", headers=admin)).json()
    assert got["previous_secret_expires_at"] is None  # the overlap is over
    mine = new_signing_secret()
    r = await client.post(f"{BASE}/{sub['id']}/rotate-secret", json={"secret": mine}, headers=admin)
    assert r.json()["secret"] == mine


async def test_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sub = await create(client, admin)
    r = await client.delete(f"{BASE}/{sub['id']}", headers=admin)
    assert r.status_code == 204
    problem(await client.get(f"{BASE}/{sub['id']}", headers=admin), 404)
    problem(await client.delete(f"{BASE}/{sub['id']}", headers=admin), 404)


async def test_the_list_pages(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = [(await create(client, admin, name=f"s{i}"))["id"] for i in range(5)]
    items = await walk_pages(client, admin, BASE, limit=2)
    assert [s["id"] for s in items] == list(reversed(ids))  # newest first


async def test_unknown_ids_are_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    missing = "0192f3c4-0000-7000-8000-000000000000"
    for method, path, payload in [
        ("GET", f"{BASE}/{missing}", None),
        ("PATCH", f"{BASE}/{missing}", {"name": "x"}),
        ("POST", f"{BASE}/{missing}/rotate-secret", None),
        ("POST", f"{BASE}/{missing}/enable", None),
        ("POST", f"{BASE}/{missing}/redeliver", {"since": "2026-01-01T00:00:00Z"}),
        ("GET", f"{BASE}/{missing}/deliveries", None),
        ("GET", f"/v1/webhooks/deliveries/{missing}", None),
        ("POST", f"/v1/webhooks/deliveries/{missing}/redeliver", None),
    ]:
        r = await client.request(method, path, json=payload, headers=admin)
        problem(r, 404)


async def test_only_admins_manage_webhooks(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await create(client, admin)
    engineer = await issue_key("engineer")
    for method, path, payload in [
        ("POST", BASE, body()),
        ("GET", BASE, None),
        ("GET", f"{BASE}/{sub['id']}", None),
        ("POST", f"{BASE}/{sub['id']}/rotate-secret", None),
        ("GET", f"{BASE}/{sub['id']}/deliveries", None),
    ]:
        r = await client.request(method, path, json=payload, headers=engineer)
        problem(r, 403)
    problem(await client.get(BASE), 401)


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "url": PUBLIC, "event_types": ["*"], "active": False},  # unknown here
        {"name": "x\x00", "url": PUBLIC, "event_types": ["*"]},
        {"name": "x", "url": "http://93.184.216.34/\x00", "event_types": ["*"]},
        {"name": "x", "url": "h" * 2001, "event_types": ["*"]},
        {"name": "x", "url": PUBLIC, "event_types": ["*"] * 51},
        {"name": "", "url": PUBLIC, "event_types": ["*"]},
        {"name": "x", "url": PUBLIC, "event_types": "ticket.*"},
    ],
)
async def test_hostile_input_is_a_4xx_problem(
    client: httpx.AsyncClient, admin: dict[str, str], payload: dict[str, Any]
) -> None:
    r = await client.post(BASE, json=payload, headers=admin)
    problem(r, 422)


async def test_redeliver_since_needs_an_instant(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await create(client, admin)
    path = f"{BASE}/{sub['id']}/redeliver"
    problem(await client.post(path, json={}, headers=admin), 422, "since")
    problem(await client.post(path, json={"since": "yesterday"}, headers=admin), 422, "since")
    r = await client.post(path, json={"since": "2026-01-01T00:00:00Z"}, headers=admin)
    assert r.status_code == 200 and r.json() == {"redelivered": 0}


# --- hostile input on every endpoint (review) ------------------------------------------------------

_HUGE = "x" * 300_000
_ID_FORMS = ["not-a-uuid", "0" * 5000, "%00", "00000000-0000-0000-0000-000000000000", "1 OR 1=1"]


def _hostile_requests(sid: str, did: str) -> list[tuple[str, str, Any, dict[str, Any] | None]]:
    """(method, path, json body, query) requests that must never be answered 5xx (a clamped
    `limit` is answered 200)."""
    subs, dels = f"{BASE}/{sid}", f"/v1/webhooks/deliveries/{did}"
    bodies: list[Any] = [None, [], "x", 1, {"name": None}, {"name": _HUGE},
                         {"url": 5}, {"url": "http://[::1"}, {"url": "http://a" + "b" * 3000},
                         {"event_types": [1]}, {"event_types": [None]}, {"event_types": {}},
                         {"event_types": ["ticket.[!]"]}, {"event_types": ["**" * 40]},
                         {"description": "a\x00b"}, {"secret": 1}, {"secret": "whsec_" + "\x00" * 40},
                         {"since": "9999-12-31T23:59:59-14:00"}, {"since": "0001-01-01T00:00:00+14:00"},
                         {"since": 10**20}, {"since": "2026-13-01T00:00:00Z"}, {"since": None},
                         {"since": "2026-01-01T00:00:00"}, {"since": "-infinity"},
                         {"active": "yes"}, {"unknown": 1}]  # fmt: skip
    out: list[tuple[str, str, Any, dict[str, Any] | None]] = []
    for b in bodies:
        out += [("POST", BASE, b, None), ("PATCH", subs, b, None),
                ("POST", f"{subs}/rotate-secret", b if b is not None else [], None),
                ("POST", f"{subs}/redeliver", b, None), ("POST", f"{dels}/redeliver", b, None),
                ("POST", f"{subs}/enable", b, None)]  # fmt: skip
    for q in [{"limit": "0"}, {"limit": "100000"}, {"limit": "x"}, {"cursor": "\x00"},
              {"cursor": _HUGE[:5000]}, {"cursor": "bm90LWEtY3Vyc29y"}, {"active": "maybe"},
              {"state": "lost"}, {"state": "\x00"}]:  # fmt: skip
        out += [("GET", BASE, None, q), ("GET", f"{subs}/deliveries", None, q)]
    for bad in _ID_FORMS:
        out += [("GET", f"{BASE}/{bad}", None, None), ("PATCH", f"{BASE}/{bad}", {}, None),
                ("DELETE", f"{BASE}/{bad}", None, None),
                ("POST", f"{BASE}/{bad}/redeliver", {"since": "2026-01-01T00:00:00Z"}, None),
                ("GET", f"/v1/webhooks/deliveries/{bad}", None, None),
                ("POST", f"/v1/webhooks/deliveries/{bad}/redeliver", None, None)]  # fmt: skip
    out += [("PATCH", subs, {"name": "x"}, None)]  # If-Match garbage below
    return out


async def test_hostile_input_on_every_endpoint_is_a_4xx_problem(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await create(client, admin)
    missing = "0192f3c4-0000-7000-8000-000000000000"
    for method, path, payload, query in _hostile_requests(sub["id"], missing):
        kw: dict[str, Any] = {"params": query}
        if payload is not None:
            kw["json"] = payload
        r = await client.request(method, path, headers={**admin, "If-Match": '"garbage'}, **kw)
        assert r.status_code < 500, (method, path, str(payload)[:80], query, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), r.text[:200]
