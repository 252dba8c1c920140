"""The hot path of repeated alerts (app/hooks/repository/repeats.py): a request whose
every alert repeats a firing on an open ticket is one statement, and must leave exactly
what the general path leaves; anything else takes the general path, in full."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from tests.api.conftest import ticket_events
from tests.api.test_hooks_alerts import _act, _alerts
from tests.api.test_hooks_ingress import am_alert, am_body, bearer, count, make_source, post
from tests.factories import World


async def _requests(sid: str) -> list[dict[str, Any]]:
    async with open_uow() as uow:
        rows = await uow.session.execute(
            text("SELECT outcome, status_code, alerts, body_bytes FROM hook_requests"
                 " WHERE source_id = CAST(:s AS uuid) ORDER BY id"),
            {"s": sid},
        )  # fmt: skip
        return [dict(r._mapping) for r in rows]


async def test_repeats_in_one_statement_leave_what_the_general_path_leaves(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world)
    key, h = src["key"], bearer(token)
    a, b = am_alert("f-a"), am_alert("f-b", instance="10.1.2.4:9100")
    first = (await post(client, key, am_body(a, b), h)).json()["alerts"]
    assert [x["action"] for x in first] == ["opened", "opened"]
    outbox = await count("outbox")
    # Both repeat, in the other order, one with a changed annotation: the hot path.
    changed = {**a, "annotations": {"summary": "仍然宕机 / still down"}}
    r = await post(client, key, am_body(b, changed), h)
    assert r.status_code == 202, r.text
    out = r.json()
    assert [(x["fingerprint"], x["action"]) for x in out["alerts"]] == [
        ("f-b", "repeated"),
        ("f-a", "repeated"),
    ]
    by_fp = {x["fingerprint"]: x for x in first}
    for x in out["alerts"]:
        assert x["ticket_id"] == by_fp[x["fingerprint"]]["ticket_id"]
        assert x["ticket_number"] == by_fp[x["fingerprint"]]["ticket_number"]
        assert x["status"] == "firing"
    # Counted on the timeline, not announced, the ticket untouched.
    events = await ticket_events(client, admin, by_fp["f-a"]["ticket_id"])
    repeated = [e for e in events if e["type"] == "alert.repeated"]
    assert len(repeated) == 1 and repeated[0]["data"] == {
        "fingerprint": "f-a", "count": 2, "source": key,
    }  # fmt: skip
    assert repeated[0]["channel"] == "webhook" and repeated[0]["actor_role"] == "integration"
    assert await count("outbox") == outbox
    ticket = (await client.get(f"/v1/tickets/{by_fp['f-a']['ticket_id']}", headers=admin)).json()
    assert ticket["version"] == 1
    # The alert rows: counted, what was seen kept.
    rows = await _alerts(client, admin, src["id"])
    assert rows["f-a"]["fire_count"] == 2 and rows["f-b"]["fire_count"] == 2
    assert rows["f-a"]["annotations"] == {"summary": "仍然宕机 / still down"}
    # The request log: the same row the general path writes.
    log = await _requests(src["id"])
    assert len(log) == 2
    assert log[1]["outcome"] == "accepted" and log[1]["status_code"] == 202
    assert log[1]["alerts"] == out["alerts"]
    assert log[1]["body_bytes"] > 0
    got = await client.get(f"/v1/hooks/sources/{src['id']}/requests", headers=admin)
    assert got.status_code == 200 and got.json()["items"][0]["id"] == out["request_id"]


async def test_a_request_not_all_repeats_takes_the_general_path_whole(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world)
    key, h = src["key"], bearer(token)
    a = am_alert("m-a")
    opened = (await post(client, key, am_body(a), h)).json()["alerts"][0]
    # One repeat and one new alert: the repeat is counted once, the new one opened.
    r = await post(client, key, am_body(a, am_alert("m-new")), h)
    assert [x["action"] for x in r.json()["alerts"]] == ["repeated", "opened"]
    # One repeat and one recovery of it in the same request: not the hot path either.
    r = await post(client, key, am_body(a, {**a, "status": "resolved"}), h)
    assert [x["action"] for x in r.json()["alerts"]] == ["repeated", "recovered"]
    rows = await _alerts(client, admin, src["id"])
    assert rows["m-a"]["fire_count"] == 3 and rows["m-a"]["state"] == "resolved"
    assert await count("tickets") == 2
    # Firing again after that recovery, its ticket still open: a repeat, by the general
    # path (the row is resolved, so not a repeat of a firing we hold).
    r = await post(client, key, am_body(a), h)
    assert r.json()["alerts"][0]["action"] == "repeated"
    # Its ticket cancelled while the same firing goes on: no hot path, no new ticket.
    await _act(client, admin, opened["ticket_id"], "cancel", reason="误报")
    r = await post(client, key, am_body(a), h)
    assert r.json()["alerts"][0]["action"] == "closed_while_firing"
    assert await count("tickets") == 2
    types = [e["type"] for e in await ticket_events(client, admin, opened["ticket_id"])]
    assert types.count("alert.repeated") == 3


async def test_concurrent_repeats_are_each_counted_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: FixedClock
) -> None:
    src, token = await make_source(client, admin, world)
    key, h = src["key"], bearer(token)
    alerts = [am_alert(f"c-{i}", instance=f"10.9.0.{i}:9100") for i in range(4)]
    await post(client, key, am_body(*alerts), h)
    bodies = [am_body(*alerts[i % 4 :], *alerts[: i % 4]) for i in range(12)]
    answers = await asyncio.gather(*(post(client, key, b, h) for b in bodies))
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    assert all(x["action"] == "repeated" for r in answers for x in r.json()["alerts"])
    rows = await _alerts(client, admin, src["id"])
    assert {rows[f"c-{i}"]["fire_count"] for i in range(4)} == {13}
    assert await count("tickets") == 4
    async with open_uow() as uow:
        n = await uow.session.execute(
            text("SELECT count(*) FROM ticket_events WHERE type = 'alert.repeated'")
        )
        assert n.scalar_one() == 48
