"""`POST /v1/hooks/{key}` as a hostile sender and a careless one would use it (a review of
the inbound half, issue 13): what a refusal leaves behind (the one documented log row, or
nothing), requests racing on one new fingerprint, headers no sender should send (a
timestamp past year 9999, a NUL in `webhook-id`, thousands of signatures), whether a
stranger who knows a source's URL can spend its rate, and whether a sender trickling
its body holds a database connection meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
from tests.api.test_hooks_ingress import (
    am_alert,
    am_body,
    bearer,
    count,
    effects,
    make_source,
    post,
    signed,
)
from tests.factories import World


async def _everything() -> tuple[int, ...]:
    """What any request may leave: its log rows, and (`effects`) tickets, timeline
    events, outbox rows and followed alerts."""
    return (await count("hook_requests"), *await effects())


# -- refusals leave nothing but the documented log row -------------------------------


async def test_refusals_before_the_payload_leave_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src, token = await make_source(client, admin, world, rate_limit_per_minute=1)
    body = am_body(am_alert("n1"))
    assert (await post(client, src["key"], body, bearer(token))).status_code == 202
    before = await _everything()
    problem(await post(client, src["key"], body, bearer("x" * 43)), 401)
    problem(await post(client, "no-such-source", body, bearer(token)), 404)
    problem(await post(client, src["key"], body, bearer(token)), 429)  # the 2nd this minute
    monkeypatch.setattr(get_settings(), "hook_max_body_bytes", 1024)
    problem(await post(client, src["key"], b" " * 2048, bearer(token)), 413)
    assert await _everything() == before


async def test_a_refused_payload_leaves_only_its_log_row(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    src, token = await make_source(client, admin, world)
    for raw, media, status in ((b"{}", "text/plain", 415), (b"{", "application/json", 400),
                               (b'{"version": "4"}', "application/json", 422)):  # fmt: skip
        before = await _everything()
        problem(await post(client, src["key"], raw, bearer(token), content_type=media), status)
        after = await _everything()
        assert after == (before[0] + 1, *before[1:]), (status, before, after)


async def test_a_source_that_cannot_take_tickets_defers_and_records_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    """The source's category was deactivated: 503 with Retry-After (Alertmanager
    retries a 5xx), and the alert of the same request that could be placed (its own
    category) is rolled back with the rest: no ticket, no alert row, no log row."""
    src, token = await make_source(client, admin, world)
    r = await client.patch("/v1/categories/hardware", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    placed = am_alert("d1", category="software")
    stranded = am_alert("d2", instance="h2")
    r = await post(client, src["key"], am_body(placed, stranded), bearer(token))
    p = problem(r, 503)
    assert p["type"].endswith("/hook-deferred") and r.headers["Retry-After"] == "60"
    assert await _everything() == (0, 0, 0, 0, 0)
    r = await client.patch("/v1/categories/hardware", json={"active": True}, headers=admin)
    r = await post(client, src["key"], am_body(placed, stranded), bearer(token))
    assert [x["action"] for x in r.json()["alerts"]] == ["opened", "opened"]


# -- races ------------------------------------------------------------------------------


async def test_concurrent_requests_for_one_new_fingerprint_open_one_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    """A bearer source (no webhook-id to claim): only the fingerprint's row lock keeps
    ten copies at once from opening ten tickets."""
    src, token = await make_source(client, admin, world)
    body = am_body(am_alert("race-1"))
    answers = await asyncio.gather(*[post(client, src["key"], body, bearer(token))
                                     for _ in range(10)])  # fmt: skip
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    actions = sorted(r.json()["alerts"][0]["action"] for r in answers)
    assert actions == ["opened"] + ["repeated"] * 9
    assert len({r.json()["alerts"][0]["ticket_id"] for r in answers}) == 1
    assert await count("tickets") == 1
    async with open_uow() as uow:
        fired = (await uow.session.execute(text("SELECT fire_count FROM hook_alerts"))).all()
    assert [tuple(f) for f in fired] == [(10,)]


async def test_racing_firing_resolved_and_replays_stay_consistent(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """Copies of one webhook-id, other ids for the same alert, and its recovery, all at
    once: never a 5xx, one ticket, each copy of the id answered what the first did."""
    src, secret = await make_source(client, admin, world, auth="signature")
    firing = orjson.dumps(am_body(am_alert("mix-1")))
    resolved = orjson.dumps(am_body(am_alert("mix-1", "resolved")))
    same = signed(secret, firing, clock, msg_id="msg_same")
    calls = [post(client, src["key"], firing, same) for _ in range(4)]
    calls += [post(client, src["key"], firing, signed(secret, firing, clock)) for _ in range(3)]
    calls += [post(client, src["key"], resolved, signed(secret, resolved, clock))]
    answers = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 202) for r in answers), [r.text for r in answers]
    assert await count("tickets") == 1
    copies = answers[:4]
    assert sorted(r.status_code for r in copies) == [200, 200, 200, 202]
    assert len({orjson.dumps(r.json()["alerts"]) for r in copies}) == 1


# -- hostile headers ---------------------------------------------------------------------


async def test_timestamps_past_year_9999_are_a_401_not_a_500(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature", kind="generic")
    body = orjson.dumps({"fingerprint": "ts-1"})
    for stamp in ("999999999999", "253402300800", "0", "000000000001"):
        headers = {**signed(secret, body, clock), "webhook-timestamp": stamp}
        p = problem(await post(client, src["key"], body, headers), 401)
        assert "off" in p["detail"], p
    assert await count("hook_requests") == 0


async def test_a_webhook_id_with_a_control_character_is_refused_unrecorded(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """A NUL would fail the insert (a 500 after the signature was checked); any other
    control character would be logged and answered back as it came."""
    src, secret = await make_source(client, admin, world, auth="signature", kind="generic")
    body = orjson.dumps({"fingerprint": "id-1"})
    for msg_id in ("msg\x00nul", "msg\x01soh", "msg\x7fdel"):
        r = await post(client, src["key"], body, signed(secret, body, clock, msg_id=msg_id))
        assert "control character" in problem(r, 400)["detail"]
    assert await _everything() == (0, 0, 0, 0, 0)


async def test_thousands_of_signatures_are_refused_a_few_accepted(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, secret = await make_source(client, admin, world, auth="signature", kind="generic")
    body = orjson.dumps({"fingerprint": "sig-1"})
    good = signed(secret, body, clock)
    decoys = " ".join(["v1,AAAA"] * signing.MAX_SIGNATURES)
    flood = {**good, "webhook-signature": f"{decoys} {good['webhook-signature']}"}
    assert "At most" in problem(await post(client, src["key"], body, flood), 401)["detail"]
    few = {**good, "webhook-signature": f"v1,AAAA v2,BBBB {good['webhook-signature']}"}
    assert (await post(client, src["key"], body, few)).status_code == 202


async def test_a_stranger_cannot_spend_a_sources_rate(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    """The key is in the URL, not a secret: requests without the source's credentials
    are refused (401) without counting, so the real sender keeps its rate."""
    src, token = await make_source(client, admin, world, rate_limit_per_minute=2)
    body = am_body(am_alert("rate-1", "resolved"))
    for _ in range(5):
        problem(await post(client, src["key"], body, bearer("guess-" + "x" * 40)), 401)
    for _ in range(2):
        assert (await post(client, src["key"], body, bearer(token))).status_code == 202
    problem(await post(client, src["key"], body, bearer(token)), 429)


async def test_a_trickling_body_holds_no_database_transaction(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    """A sender (or an attacker who knows the URL) sending its body slowly must not hold
    a pooled connection in an open transaction meanwhile: enough of them would take the
    whole pool."""
    src, token = await make_source(client, admin, world)
    body = orjson.dumps(am_body(am_alert("slow-1")))
    seen: list[int] = []

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:10]
        async with open_uow() as uow:
            busy = await uow.session.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))  # fmt: skip
            seen.append(int(busy.scalar_one()))
        yield body[10:]

    r = await client.post(f"/v1/hooks/{src['key']}", content=trickle(),
                          headers={"content-type": "application/json", **bearer(token)})  # fmt: skip
    assert r.status_code == 202, r.text
    assert seen == [0]


# -- the spec ----------------------------------------------------------------------------


def test_the_spec_of_receive_hook_says_what_the_route_answers(app: Any) -> None:
    op = app.openapi()["paths"]["/v1/hooks/{key}"]["post"]
    assert op["security"] == []
    responses = op["responses"]
    assert set(responses) >= {"200", "202", "400", "401", "404", "413", "415", "422", "429",
                              "503"}  # fmt: skip
    assert "API key" not in responses["401"]["description"]
    assert "branch" not in responses["404"]["description"]
    for status in ("429", "503"):
        assert "Retry-After" in responses[status]["headers"]
        assert "problem+json" in next(iter(responses[status]["content"]))


def test_the_request_log_types_its_alerts_in_the_spec(app: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]
    items = schemas["HookRequestOut"]["properties"]["alerts"]["items"]
    assert items == {"$ref": "#/components/schemas/AlertResult"}


def test_the_examples_of_the_spec_are_valid_requests() -> None:
    from app.hooks.schemas.sources import HookMapping, HookSourceCreate, RotateSecret

    for model in (HookSourceCreate, HookMapping, RotateSecret):
        example = model.model_config["json_schema_extra"]["example"]  # type: ignore[index]
        model.model_validate(example)
