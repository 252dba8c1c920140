"""Callbacks, contact plans, callback policies and surveys against hostile input and
concurrency, on real PostgreSQL with a pinned clock: instants no UTC can hold, forged
cursors and survey tokens, another branch's ids, two agents (or an agent and a reopen,
or a timer and a request) at the same row, Idempotency-Key replays, stale If-Match,
a policy whose calendar has no working day; and what a refusal must leave: nothing."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from app.core.clock import FixedClock
from app.core.pagination import encode_cursor
from tests.api.callbackkit import (
    OVERDUE,
    PLAN,
    SILENCE,
    Desk,
    act,
    callbacks_of,
    events_of,
    fire,
    make_desk,
    outbox,
    resolved_ticket,
    rows,
    sh,
    timer,
)
from tests.api.conftest import problem
from tests.conftest import issue_key
from tests.factories import World

RESOLVED = sh(2026, 9, 30, 15)  # Wednesday before China's National Day holidays
CALL_DAY = sh(2026, 10, 8, 10)  # the callback's due time (Thursday after them)
# Valid ISO 8601 instants that no UTC datetime can hold (year 0 or 10000 in UTC).
NO_UTC = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]


@pytest.fixture
def clock_start() -> datetime:
    return RESOLVED


@pytest.fixture
async def desk(client: httpx.AsyncClient, world: World) -> Desk:
    return await make_desk(client, world)


async def _resolved_callback(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> tuple[dict[str, Any], dict[str, Any]]:
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    [cb] = await callbacks_of(t["id"])
    return t, cb


def _plan_body(desk: Desk, **kw: Any) -> dict[str, Any]:
    return {"customer_id": str(desk.world.customer_id), "contact_id": str(desk.world.contact_id),
            "agent_id": str(desk.agent_id), "every_weeks": 2,
            "first_due_at": "2026-10-12T02:00:00Z", "note": "重点客户双周回访"} | kw  # fmt: skip


async def _count(table: str) -> int:
    return int((await rows(f"SELECT count(*) AS n FROM {table}"))[0]["n"])


async def _ticket(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/tickets/{tid}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- instants, cursors, huge and odd text ---------------------------------------------


async def test_instants_outside_utc_are_refused_not_a_500(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    assert r.status_code == 201, r.text
    plan = r.json()
    for instant in NO_UTC:
        problem(await client.patch(f"/v1/callbacks/{cb['id']}", json={"due_at": instant},
                                   headers=desk.agent), 422, "due_at")  # fmt: skip
        problem(await client.post("/v1/contact-plans", json=_plan_body(desk, first_due_at=instant),
                                  headers=desk.manager), 422, "first_due_at")  # fmt: skip
        problem(await client.patch(f"/v1/contact-plans/{plan['id']}",
                                   json={"next_due_at": instant}, headers=desk.manager),
                422, "next_due_at")  # fmt: skip
        for path in ("/v1/callbacks", "/v1/me/callbacks"):
            problem(await client.get(path, params={"due_before": instant}, headers=desk.agent),
                    422, "due_before")  # fmt: skip
    # Nothing moved.
    [again] = await callbacks_of(t["id"])
    assert again["version"] == 1 and again["due_at"] == CALL_DAY
    assert await _count("contact_plans") == 1
    r = await client.get(f"/v1/contact-plans/{plan['id']}", headers=desk.manager)
    assert r.json()["version"] == 1


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


async def test_forged_queue_cursors_are_400_never_500(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    await _resolved_callback(client, desk, clock)
    some = str(uuid.uuid4())
    bad = [
        encode_cursor(f"99999999999999999999.{some}"),  # after year 9999
        encode_cursor(f"-99999999999999999.{some}"),  # before year 1
        encode_cursor(f"253402300800000000.{some}"),  # one microsecond past 9999
        encode_cursor(f"abc.{some}"),
        encode_cursor("1.not-a-uuid"),
        encode_cursor("1"),
        encode_cursor("."),
        encode_cursor(f"1e5.{some}"),
        encode_cursor(f"{'9' * 30}.{some}"),
        _cursor(["x" * 65]),
        _cursor([1]),
        _cursor({"a": 1}),
        _cursor([]),
        _cursor(["1", "2"]),
        "%%%",
        "A",
        "é",
        "A" * 5000,
    ]
    for cursor in bad:
        for path in ("/v1/callbacks", "/v1/me/callbacks"):
            body = problem(await client.get(path, params={"cursor": cursor}, headers=admin), 400)
            assert body.get("param") == "cursor", (cursor, body)
    # The far ends of what a cursor can say are pages, not errors.
    for micros in ("-62135596800000000", "253402300799999999", "0"):
        r = await client.get("/v1/callbacks", params={"cursor": encode_cursor(f"{micros}.{some}")},
                             headers=admin)  # fmt: skip
        assert r.status_code == 200, (micros, r.text)
    for cursor in ("%%%", "A" * 5000, _cursor([1])):
        problem(await client.get("/v1/contact-plans", params={"cursor": cursor},
                                 headers=desk.manager), 400)  # fmt: skip


async def test_long_and_astral_text_fits_and_one_more_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    astral = "𠀀" * 4000  # 4,000 characters outside the BMP: 16,000 bytes of UTF-8
    url = f"/v1/callbacks/{cb['id']}"
    problem(await client.patch(url, json={"note": astral + "x"}, headers=desk.agent), 422, "note")
    r = await client.patch(url, json={"note": astral}, headers=desk.agent)
    assert r.status_code == 200, r.text
    clock.set(CALL_DAY)
    attempts: list[Any] = [{"outcome": "no_answer", "note": None, "x": 1},
                           {"outcome": ["no_answer"]}, {"outcome": None}, "no_answer",
                           {"outcome": "no_answer", "note": 5}, {"outcome": "no_answer\n"}]  # fmt: skip
    for body in attempts:
        problem(await client.post(f"{url}/attempts", json=body, headers=desk.agent), 422)
    changes: list[Any] = [{"due_at": "tomorrow"}, {"due_at": "2026-10-09T10:00:00"},  # naive
                          {"agent_id": "me"}, {"agent_id": 5}, {"note": "\u0000"}, {"version": 3},
                          {"due_at": 1e300}]  # fmt: skip
    for body in changes:
        problem(await client.patch(url, json=body, headers=desk.agent), 422)
    assert await _count("callback_attempts") == 0
    r = await client.post(f"{url}/attempts", json={"outcome": "not_solved", "note": astral},
                          headers=desk.agent)  # fmt: skip
    assert r.status_code == 201, r.text
    [reopened] = await events_of(client, admin, t["id"], "ticket.reopened")
    assert reopened["data"]["reason"] == astral


# --- another branch's ids -------------------------------------------------------------


async def test_another_branch_finds_nothing_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    assert r.status_code == 201, r.text
    plan = r.json()
    other = desk.world.other_branch_id
    agent, manager = await issue_key("agent", other), await issue_key("manager", other)
    clock.set(CALL_DAY)
    problem(await client.get(f"/v1/callbacks/{cb['id']}", headers=agent), 404)
    problem(await client.patch(f"/v1/callbacks/{cb['id']}", json={"note": "x"},
                               headers=agent), 404)  # fmt: skip
    problem(await client.patch(f"/v1/callbacks/{cb['id']}", json={"note": "x"},
                               headers={**agent, "If-Match": 'W/"1"'}), 404)  # fmt: skip
    for outcome in ("satisfied", "not_solved", "no_answer", "done"):
        problem(await client.post(f"/v1/callbacks/{cb['id']}/attempts",
                                  json={"outcome": outcome, "note": "n"}, headers=agent), 404)  # fmt: skip
    problem(await client.get(f"/v1/contact-plans/{plan['id']}", headers=manager), 404)
    problem(await client.patch(f"/v1/contact-plans/{plan['id']}", json={"active": False},
                               headers=manager), 404)  # fmt: skip
    # Our manager may not hand our plan or callback to their contact or agent.
    their_agent = (await client.get("/v1/me", headers=agent)).json()["id"]
    for change in ({"contact_id": str(desk.world.other_contact_id)}, {"agent_id": their_agent}):
        field = next(iter(change))
        problem(await client.patch(f"/v1/contact-plans/{plan['id']}", json=change,
                                   headers=desk.manager), 422, field)  # fmt: skip
    problem(await client.patch(f"/v1/callbacks/{cb['id']}", json={"agent_id": their_agent},
                               headers=desk.manager), 422, "agent_id")  # fmt: skip
    url = f"/v1/customers/{desk.world.customer_id}/callback-policy"
    r = await client.get("/v1/callback-policy", headers=admin)
    body = {k: v for k, v in r.json().items()
            if k not in ("customer_id", "inherited", "version", "updated_at")}  # fmt: skip
    problem(await client.get(url, headers=manager), 404)
    problem(await client.put(url, json=body, headers=manager), 404)
    problem(await client.put(url, json=body, headers={**manager, "If-Match": 'W/"0"'}), 404)
    r = await client.put(url, json=body, headers=desk.manager)
    assert r.status_code == 201, r.text
    problem(await client.delete(url, headers=manager), 404)
    # The lists: filtered by our ids, they show the other branch nothing.
    for params in ({}, {"ticket_id": t["id"]}, {"customer_id": str(desk.world.customer_id)},
                   {"agent_id": str(desk.agent_id)}, {"plan_id": plan["id"]}):  # fmt: skip
        r = await client.get("/v1/callbacks", params=params, headers=agent)
        assert r.status_code == 200 and r.json()["items"] == [], (params, r.text)
    r = await client.get("/v1/contact-plans", params={"customer_id": str(desk.world.customer_id)},
                         headers=manager)  # fmt: skip
    assert r.status_code == 200 and r.json()["items"] == []
    # A plan of theirs for our customer, contact or agent: not theirs to name.
    problem(await client.post("/v1/contact-plans", json=_plan_body(desk), headers=manager), 422,
            "customer_id")  # fmt: skip
    # Nothing was written by any of it.
    assert await _count("callback_attempts") == 0
    [again] = await callbacks_of(t["id"])
    assert again["version"] == 1 and again["note"] is None
    assert (await _ticket(client, admin, t["id"]))["status"] == "resolved"
    r = await client.get(f"/v1/contact-plans/{plan['id']}", headers=desk.manager)
    assert r.json()["active"] is True and r.json()["version"] == 1
    assert (await client.get(url, headers=desk.agent)).json()["inherited"] is False
    assert await _count("contact_plans") == 1


# --- survey tokens --------------------------------------------------------------------


async def _survey_token(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> tuple[dict[str, Any], str]:
    from app.callbacks.interface import survey_link
    from app.core.db import open_uow

    t = await resolved_ticket(client, desk, clock, RESOLVED)
    async with open_uow() as uow:
        link = await survey_link(uow, uuid.UUID(t["id"]))
    assert link is not None
    return t, link.rsplit("/", 1)[1]


async def test_garbage_survey_tokens_are_404_and_leak_nothing(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    t, token = await _survey_token(client, desk, clock)
    head, mac = token.split(".")
    garbage = [
        token[:-1],  # truncated
        token[: len(head) + 1],
        head,
        token + "A",
        token + "AAAA",  # still base64, longer MAC
        token.swapcase(),
        f"{head}.{mac}=",
        "A" * 199 + ".",
        "A" * 100 + "." + "A" * 100,  # within the length, well shaped, not ours
        "A" * 201,
        "A" * 100 + "." + "A" * 101,  # one over the length
        "é.é",
        "令牌.签名",
        "\U0001f600.\U0001f600",
        "%E4%BB%A4.%E7%89%8C",
        "A.B",
        "AAAAA.AAAAA",  # base64 cannot have 4n+1 characters
        "..",
        "-._",
        "A%00B.C",
        f"{head}%0A.{mac}",
    ]
    for bad in garbage:
        for r in (await client.get(f"/v1/surveys/{bad}"),
                  await client.post(f"/v1/surveys/{bad}", json={"rating": 5})):  # fmt: skip
            assert r.status_code == 404, (bad, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            for secret in (t["number"], t["subject"], t["id"], str(desk.world.customer_id)):
                assert secret not in r.text, (bad, r.text)
    # A real link: the view shows exactly the number, subject, state and expiry.
    r = await client.get(f"/v1/surveys/{token}")
    assert r.status_code == 200 and set(r.json()) == {"ticket_number", "subject", "state",
                                                      "expires_at"}  # fmt: skip
    assert t["id"] not in r.text and str(desk.world.customer_id) not in r.text
    # Wrong types are refused, not read as a rating (true is no "1, poor").
    for body in ({"rating": True}, {"rating": "5"}, {"rating": 5.0}, {"rating": [5]},
                 {"rating": None}, {"rating": 5, "comment": 5}):  # fmt: skip
        problem(await client.post(f"/v1/surveys/{token}", json=body), 422)
    assert await _count("surveys WHERE answered_at IS NOT NULL") == 0


async def test_a_replayed_survey_answer_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, token = await _survey_token(client, desk, clock)
    r = await client.post(f"/v1/surveys/{token}", json={"rating": 5, "comment": "好"})
    assert r.status_code == 200, r.text
    for body in ({"rating": 5, "comment": "好"}, {"rating": 1}, {"rating": 3, "comment": None}):
        answered = problem(await client.post(f"/v1/surveys/{token}", json=body), 409)
        assert set(answered) >= {"type", "title", "status", "detail", "answered_at"}
        assert t["id"] not in str(answered) and t["number"] not in str(answered)
    [row] = await rows("SELECT rating, comment FROM surveys WHERE ticket_id = :t", t=t["id"])
    assert row == {"rating": 5, "comment": "好"}
    assert len(await events_of(client, admin, t["id"], "survey.answered")) == 1
    assert len(await outbox("survey.answered", t["id"])) == 1


# --- races ----------------------------------------------------------------------------


async def test_two_agents_recording_the_call_at_once_make_one_outcome(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    clock.set(CALL_DAY)
    url = f"/v1/callbacks/{cb['id']}/attempts"
    first, second = await asyncio.gather(
        client.post(url, json={"outcome": "satisfied", "note": "满意"}, headers=desk.agent),
        client.post(url, json={"outcome": "not_solved", "note": "仍告警"}, headers=desk.agent2),
    )
    assert sorted((first.status_code, second.status_code)) == [201, 409], (first.text, second.text)
    winner = first if first.status_code == 201 else second
    assert await _count("callback_attempts") == 1
    [done] = await callbacks_of(t["id"])
    assert done["state"] == "done" and done["attempts"] == 1
    assert done["outcome"] == winner.json()["outcome"]
    ticket = await _ticket(client, admin, t["id"])
    expected = "closed" if done["outcome"] == "satisfied" else "in_progress"
    assert ticket["status"] == expected
    assert len(await events_of(client, admin, t["id"], "callback.attempted")) == 1
    assert len(await outbox("callback.attempted", t["id"])) == 1
    assert len(await events_of(client, admin, t["id"], "ticket.closed")) == (expected == "closed")
    assert len(await events_of(client, admin, t["id"], "ticket.reopened")) == (
        expected == "in_progress"
    )
    assert await events_of(client, admin, t["id"], "callback.cancelled") == []
    assert (await timer(OVERDUE, cb["id"]))["state"] == "cancelled"  # type: ignore[index]
    assert (await timer(SILENCE, t["id"]))["state"] == "cancelled"  # type: ignore[index]


async def test_the_last_unanswered_tries_at_once_close_the_ticket_once(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    clock.set(CALL_DAY)
    url = f"/v1/callbacks/{cb['id']}/attempts"
    for _ in range(2):
        r = await client.post(url, json={"outcome": "no_answer"}, headers=desk.agent)
        assert r.status_code == 201, r.text
    tries = [client.post(url, json={"outcome": "no_answer"}, headers=h)
             for h in (desk.agent, desk.agent2, desk.agent)]  # fmt: skip
    answers = await asyncio.gather(*tries)
    assert sorted(r.status_code for r in answers) == [201, 409, 409], [r.text for r in answers]
    [done] = await callbacks_of(t["id"])
    assert (done["state"], done["outcome"], done["attempts"]) == ("done", "unreachable", 3)
    assert await _count("callback_attempts") == 3
    assert len(await events_of(client, admin, t["id"], "ticket.closed")) == 1
    assert (await _ticket(client, admin, t["id"]))["close_reason"] == "closed_unreachable"


async def test_a_call_recorded_while_the_ticket_is_reopened_is_consistent(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    clock.set(CALL_DAY)
    attempt, reopen = await asyncio.gather(
        client.post(f"/v1/callbacks/{cb['id']}/attempts",
                    json={"outcome": "satisfied", "note": "满意"}, headers=desk.agent),
        client.post(f"/v1/tickets/{t['id']}/reopen", json={"reason": "客户来电: 仍有告警"},
                    headers=desk.agent2),
    )  # fmt: skip
    assert reopen.status_code == 200, reopen.text  # reopens from resolved, or from closed
    [after] = await callbacks_of(t["id"])
    if attempt.status_code == 201:  # the call first: closed, then reopened
        assert (after["state"], after["outcome"]) == ("done", "satisfied")
        types = [e["type"] for e in await events_of(client, admin, t["id"], "ticket.")]
        assert types[-2:] == ["ticket.closed", "ticket.reopened"]
        assert reopen.json()["status"] == "in_progress"
    else:  # the reopen first: the callback ended with the resolution
        assert problem(attempt, 409)["current_state"] == "cancelled"
        assert after["state"] == "cancelled" and after["attempts"] == 0
        assert await _count("callback_attempts") == 0
    assert (await _ticket(client, admin, t["id"]))["status"] == "in_progress"
    assert (await timer(OVERDUE, cb["id"]))["state"] == "cancelled"  # type: ignore[index]
    assert (await timer(SILENCE, t["id"]))["state"] == "cancelled"  # type: ignore[index]


async def test_the_silence_close_and_a_reopen_at_once_leave_the_ticket_open(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    clock.set(sh(2026, 10, 10, 15))  # the silence is due
    fired, reopen = await asyncio.gather(
        fire(SILENCE),
        client.post(f"/v1/tickets/{t['id']}/reopen", json={"reason": "客户邮件回复: 问题仍存在"},
                    headers=desk.agent),
    )  # fmt: skip
    assert reopen.status_code == 200, reopen.text
    ticket = await _ticket(client, admin, t["id"])
    assert ticket["status"] == "in_progress" and ticket["close_reason"] is None
    closed = await events_of(client, admin, t["id"], "ticket.closed")
    left = await timer(SILENCE, t["id"])
    assert left is not None
    if fired:  # closed on silence first, then reopened from closed
        assert [e["data"]["close_reason"] for e in closed] == ["closed_by_silence"]
        assert left["state"] == "fired"
    else:  # the reopen won: the timer was cancelled under it (or gave way and then was)
        assert closed == [] and left["state"] == "cancelled"
    assert await fire(SILENCE) == 0
    assert (await _ticket(client, admin, t["id"]))["status"] == "in_progress"


async def test_timers_give_way_to_a_request_holding_their_row(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock, db: asyncpg.Connection
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    plan = r.json()
    clock.set(sh(2026, 10, 11, 10))  # the plan's timer and the callback's overdue are due
    for kind, table, subject in ((OVERDUE, "callbacks", cb["id"]),
                                 (PLAN, "contact_plans", plan["id"])):  # fmt: skip
        async with db.transaction():
            await db.execute(f"SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE", subject)
            assert await fire(kind) == 0
        held = await timer(kind, subject)
        assert held is not None and held["state"] == "pending" and held["attempts"] == 0
        async with db.transaction():  # its retry, once the backoff is over
            await db.execute("UPDATE timers SET fire_at = due_at WHERE subject_id = $1",
                             uuid.UUID(str(subject)))  # fmt: skip
        assert await fire(kind) == 1
    assert len(await outbox("callback.overdue", t["id"])) == 1
    assert len(await rows("SELECT id FROM callbacks WHERE plan_id = :p", p=plan["id"])) == 1


# --- idempotency and preconditions ----------------------------------------------------


async def test_a_plan_created_twice_with_one_key_is_one_plan(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    h = {**desk.manager, "Idempotency-Key": "plan-1"}
    first = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=h)
    again = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=h)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"] == 'W/"1"'
    problem(await client.post("/v1/contact-plans", json=_plan_body(desk, every_weeks=3),
                              headers=h), 422)  # fmt: skip
    assert await _count("contact_plans") == 1
    assert len(await outbox("contact_plan.created", first.json()["id"])) == 1
    assert await _count(f"timers WHERE kind = '{PLAN}'") == 1


async def test_an_attempt_replayed_after_the_callback_ended_replays_the_first_answer(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    clock.set(CALL_DAY)
    url = f"/v1/callbacks/{cb['id']}/attempts"
    h = {**desk.agent, "Idempotency-Key": "call-ok"}
    first = await client.post(url, json={"outcome": "satisfied"}, headers=h)
    assert first.status_code == 201, first.text
    again = await client.post(url, json={"outcome": "satisfied"}, headers=h)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # Without the key, the same call again is a conflict (the callback is done).
    problem(await client.post(url, json={"outcome": "satisfied"}, headers=desk.agent), 409)
    # The key on another callback (another path) is another request.
    problem(await client.post(f"/v1/callbacks/{uuid.uuid4()}/attempts",
                              json={"outcome": "satisfied"}, headers=h), 422)  # fmt: skip
    assert await _count("callback_attempts") == 1
    assert len(await events_of(client, admin, t["id"], "ticket.closed")) == 1


async def test_stale_or_malformed_if_match_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    plan = r.json()
    cases = [
        ("PATCH", f"/v1/callbacks/{cb['id']}", {"note": "x"}),
        ("PATCH", f"/v1/contact-plans/{plan['id']}", {"every_weeks": 3}),
    ]
    for method, url, body in cases:
        for tag, status in (('W/"2"', 412), ('"0"', 412), ('W/"99999999999999999999"', 412),
                            ("garbage", 400), ('W/"1", W/"x"', 400)):  # fmt: skip
            r = await client.request(method, url, json=body,
                                     headers={**desk.manager, "If-Match": tag})  # fmt: skip
            problem(r, status)
        r = await client.request(method, url, json=body,
                                 headers={**desk.manager, "If-Match": 'W/"3", W/"1"'})  # fmt: skip
        assert r.status_code == 200 and r.headers["etag"].startswith('W/"2'), r.text
    url = f"/v1/customers/{desk.world.customer_id}/callback-policy"
    default = (await client.get("/v1/callback-policy", headers=admin)).json()
    body = {k: v for k, v in default.items()
            if k not in ("customer_id", "inherited", "version", "updated_at")}  # fmt: skip
    r = await client.put(url, json=body, headers={**desk.manager, "If-Match": 'W/"0"'})
    assert r.status_code == 201, r.text
    problem(await client.delete(url, headers={**desk.manager, "If-Match": 'W/"2"'}), 412)
    problem(await client.put(url, json=body | {"max_attempts": 9},
                             headers={**desk.manager, "If-Match": 'W/"0"'}), 412)  # fmt: skip
    problem(await client.put("/v1/callback-policy", json=body | {"max_attempts": 9},
                             headers={**admin, "If-Match": 'W/"5"'}), 412)  # fmt: skip
    own = (await client.get(url, headers=desk.agent)).json()
    assert own["inherited"] is False and own["max_attempts"] == 3 and own["version"] == 1
    assert (await client.get("/v1/callback-policy", headers=admin)).json()["version"] == 1
    assert len(await events_of(client, admin, t["id"], "callback.updated")) == 1


# --- refusals leave nothing -----------------------------------------------------------


async def test_refusals_leave_nothing_written(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    url = f"/v1/callbacks/{cb['id']}"
    events_before = len(await events_of(client, admin, t["id"]))
    outbox_before = await _count("outbox")
    # A valid reassignment with an invalid due time: neither is made.
    problem(await client.patch(url, json={"agent_id": str(desk.agent2_id), "note": "改派",
                                          "due_at": "2026-09-01T02:00:00Z"},
                               headers=desk.agent), 422, "due_at")  # fmt: skip
    problem(await client.patch(url, json={"agent_id": str(desk.agent2_id), "due_at": None},
                               headers=desk.agent), 422, "due_at")  # fmt: skip
    problem(await client.patch(url, json={"due_at": "2026-10-09T02:00:00Z",
                                          "agent_id": str(uuid.uuid4())},
                               headers=desk.agent), 422, "agent_id")  # fmt: skip
    clock.set(CALL_DAY)
    problem(await client.post(f"{url}/attempts", json={"outcome": "not_solved"},
                              headers=desk.agent), 422, "note")  # fmt: skip
    problem(await client.post(f"{url}/attempts", json={"outcome": "done"},
                              headers=desk.agent), 422, "outcome")  # fmt: skip
    # A plan refused for any reason writes no plan, no timer, no outbox row.
    for body in (_plan_body(desk, first_due_at="2026-09-01T02:00:00Z"),
                 _plan_body(desk, agent_id=str(uuid.uuid4())),
                 _plan_body(desk, contact_id=str(desk.world.other_contact_id))):  # fmt: skip
        problem(await client.post("/v1/contact-plans", json=body, headers=desk.manager), 422)
    [again] = await callbacks_of(t["id"])
    assert (again["version"], again["agent_id"], again["note"], again["due_at"]) == (
        1, desk.agent_id, None, CALL_DAY)  # fmt: skip
    assert len(await events_of(client, admin, t["id"])) == events_before
    assert await _count("outbox") == outbox_before
    assert await _count("callback_attempts") == 0 and await _count("contact_plans") == 0
    assert await _count(f"timers WHERE kind = '{PLAN}'") == 0
    assert (await _ticket(client, admin, t["id"]))["status"] == "resolved"


# --- business time --------------------------------------------------------------------


async def _calendar(client: httpx.AsyncClient, admin: dict[str, str], code: str,
                    overrides: list[dict[str, Any]]) -> str:  # fmt: skip
    """A calendar worked on Sundays only, less `overrides`."""
    body = {"code": code, "name": "周日值班", "name_en": "Sundays", "tz": "Asia/Shanghai",
            "weekly": [[]] * 6 + [[["09:00", "18:00"]]], "overrides": overrides}  # fmt: skip
    r = await client.post("/v1/calendars", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# Every Sunday for 60 weeks from the resolution off: no business day in over a year.
NO_SUNDAYS = [{"date": (date(2026, 10, 4) + timedelta(weeks=n)).isoformat(), "hours": []}
              for n in range(-1, 60)]  # fmt: skip


async def test_a_calendar_without_business_days_cannot_break_a_resolution(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    never = await _calendar(client, admin, "never", NO_SUNDAYS)
    url = f"/v1/customers/{desk.world.customer_id}/callback-policy"
    default = (await client.get("/v1/callback-policy", headers=admin)).json()
    body = {k: v for k, v in default.items()
            if k not in ("customer_id", "inherited", "version", "updated_at")}  # fmt: skip
    problem(await client.put(url, json=body | {"calendar_id": never}, headers=desk.manager), 422,
            "calendar_id")  # fmt: skip
    problem(await client.put("/v1/callback-policy", json=body | {"calendar_id": never},
                             headers=admin), 422, "calendar_id")  # fmt: skip
    assert (await client.get(url, headers=desk.agent)).json()["inherited"] is True
    # A calendar that had business days when the policy named it, and lost them since.
    later = await _calendar(client, admin, "sundays", [])
    r = await client.put(url, json=body | {"calendar_id": later}, headers=desk.manager)
    assert r.status_code == 201, r.text
    r = await client.patch(f"/v1/calendars/{later}", json={"overrides": NO_SUNDAYS},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    t = await resolved_ticket(client, desk, clock, RESOLVED)  # the resolve answers 200
    # The follow-up falls back to the default calendar (cn-5x8), as if the policy said it.
    [cb] = await callbacks_of(t["id"])
    assert cb["due_at"] == CALL_DAY
    assert (await timer(SILENCE, t["id"]))["due_at"] == sh(2026, 10, 10, 15)  # type: ignore[index]
    clock.set(CALL_DAY)
    r = await client.post(f"/v1/callbacks/{cb['id']}/attempts", json={"outcome": "no_answer"},
                          headers=desk.agent)  # fmt: skip
    assert r.status_code == 201 and r.json()["due_at"] == "2026-10-08T04:00:00Z", r.text


@pytest.mark.parametrize(
    ("resolved", "closes"),
    [
        # Saturday noon: Monday, Tuesday and Wednesday are the reporter's three whole
        # business days; the close comes at the end of Wednesday, not at its noon.
        (sh(2026, 3, 7, 12), sh(2026, 3, 12, 0)),
        # On a National Day holiday: Oct 8, 9 and the worked Saturday Oct 10.
        (sh(2026, 10, 2, 11), sh(2026, 10, 12, 0)),
        # A business day: the resolution's time of day on the third business day after.
        (sh(2026, 3, 4, 15), sh(2026, 3, 9, 15)),
        (sh(2026, 3, 6, 20), sh(2026, 3, 11, 20)),
    ],
)
async def test_the_silence_counts_whole_business_days(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock, resolved: datetime, closes: datetime
) -> None:
    t = await resolved_ticket(client, desk, clock, resolved)
    assert (await timer(SILENCE, t["id"]))["due_at"] == closes  # type: ignore[index]


# --- contact plans --------------------------------------------------------------------


async def test_editing_a_late_plan_does_not_drop_its_call(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    plan = r.json()
    # The workers were down over the call's date; a manager edits the note meanwhile.
    clock.set(sh(2026, 10, 13, 9))
    r = await client.patch(f"/v1/contact-plans/{plan['id']}", json={"note": "季度回访"},
                           headers=desk.manager)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["next_due_at"] == plan["next_due_at"]  # the call is still owed
    assert await fire(PLAN) == 1
    [cb] = await rows("SELECT due_at, note FROM callbacks WHERE plan_id = :p", p=plan["id"])
    assert cb["due_at"] == sh(2026, 10, 12, 10)
    r = await client.get(f"/v1/contact-plans/{plan['id']}", headers=desk.manager)
    assert r.json()["next_due_at"] == "2026-10-26T02:00:00Z"


async def test_timelines_carry_each_step_once(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    clock.set(CALL_DAY)
    r = await client.post(f"/v1/callbacks/{cb['id']}/attempts",
                          json={"outcome": "not_solved", "note": "仍告警"}, headers=desk.agent)  # fmt: skip
    assert r.status_code == 201, r.text
    clock.set(CALL_DAY + timedelta(hours=3))
    await act(client, desk.engineer, t["id"], "resolve", resolution_summary="更换背板")
    types = [e["type"] for e in await events_of(client, admin, t["id"])
             if e["type"].split(".")[0] in ("callback", "survey", "silence_close", "ticket")]  # fmt: skip
    tail = types[types.index("ticket.resolved") :]
    assert tail == ["ticket.resolved", "survey.created", "callback.scheduled",
                    "silence_close.scheduled", "callback.attempted", "ticket.reopened",
                    "ticket.resolved", "survey.created", "callback.scheduled",
                    "silence_close.scheduled"], tail  # fmt: skip
    for type_, n in (("callback.scheduled", 2), ("callback.attempted", 1),
                     ("callback.cancelled", 0), ("survey.created", 2),
                     ("silence_close.scheduled", 2), ("ticket.reopened", 1)):  # fmt: skip
        assert len(await outbox(type_, t["id"])) == n, type_
    first, second = await callbacks_of(t["id"])
    assert (await timer(OVERDUE, first["id"]))["state"] == "cancelled"  # type: ignore[index]
    assert (await timer(OVERDUE, second["id"]))["state"] == "pending"  # type: ignore[index]
    assert (await timer(SILENCE, t["id"]))["state"] == "pending"  # type: ignore[index]
    assert await _count(f"timers WHERE kind = '{SILENCE}'") == 1


async def test_conditional_writes_at_once_one_wins_the_other_is_412(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, cb = await _resolved_callback(client, desk, clock)
    r = await client.post("/v1/contact-plans", json=_plan_body(desk), headers=desk.manager)
    plan = r.json()
    h = {**desk.manager, "If-Match": 'W/"1"'}
    for url, bodies in (
        (f"/v1/callbacks/{cb['id']}", ({"note": "甲"}, {"note": "乙"})),
        (f"/v1/contact-plans/{plan['id']}", ({"every_weeks": 3}, {"every_weeks": 4})),
    ):
        answers = await asyncio.gather(*(client.patch(url, json=b, headers=h) for b in bodies))
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        won = next(a for a in answers if a.status_code == 200)
        r = await client.get(url, headers=desk.manager)
        field = next(iter(bodies[0]))
        assert (r.json()["version"], r.json()[field]) == (2, won.json()[field])
    assert len(await events_of(client, admin, t["id"], "callback.updated")) == 1
    assert len(await outbox("contact_plan.updated", plan["id"])) == 1
    # Two first policies of one customer at once: one is made, the other told to retry.
    url = f"/v1/customers/{desk.world.customer_id}/callback-policy"
    default = (await client.get("/v1/callback-policy", headers=admin)).json()
    body = {k: v for k, v in default.items()
            if k not in ("customer_id", "inherited", "version", "updated_at")}  # fmt: skip
    answers = await asyncio.gather(
        *(client.put(url, json=body | {"max_attempts": n}, headers=desk.manager) for n in (4, 5))
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 201)
    own = (await client.get(url, headers=desk.agent)).json()
    assert own["max_attempts"] == won.json()["max_attempts"] and own["version"] == 1
    assert await _count("callback_policies") == 2


async def test_a_cached_callback_is_not_kept_past_what_its_version_does_not_count(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    _, cb = await _resolved_callback(client, desk, clock)
    url = f"/v1/callbacks/{cb['id']}"
    r = await client.get(url, headers=desk.agent)
    tag = r.headers["etag"]
    assert (await client.get(url, headers={**desk.agent, "If-None-Match": tag})).status_code == 304
    # The customer's policy allows more tries: the answer's max_attempts changed.
    default = (await client.get("/v1/callback-policy", headers=admin)).json()
    body = {k: v for k, v in default.items()
            if k not in ("customer_id", "inherited", "version", "updated_at")}  # fmt: skip
    r = await client.put(f"/v1/customers/{desk.world.customer_id}/callback-policy",
                         json=body | {"max_attempts": 5}, headers=desk.manager)  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.get(url, headers={**desk.agent, "If-None-Match": tag})
    assert r.status_code == 200 and r.json()["max_attempts"] == 5 and r.json()["version"] == 1
    tag = r.headers["etag"]
    # Past its due time and the grace (no worker has noticed yet): overdue.
    clock.set(CALL_DAY + timedelta(hours=1))
    r = await client.get(url, headers={**desk.agent, "If-None-Match": tag})
    assert r.status_code == 200 and r.json()["overdue"] is True and r.json()["version"] == 1
    # If-Match still reads the version: the tag of either answer is good for a change.
    r = await client.patch(url, json={"note": "下午再拨"}, headers={**desk.agent, "If-Match": tag})
    assert r.status_code == 200, r.text
