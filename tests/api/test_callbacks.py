"""Callbacks after resolution (客户回访) and contact plans (定期主动式电话支持) through the
API on real PostgreSQL, with a pinned clock: the callback is due at 10:00 on the next
business day of the customer's calendar (across a weekend, China's National Day and an
adjusted working Saturday), each outcome and what it does to the ticket, retries up to
the policy's attempts, the overdue notice by its timer, the agent's queue, reassigning
and rescheduling, policies, contact plans making their calls, and hostile input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.core.clock import FixedClock
from tests.api.callbackkit import (
    OVERDUE,
    PLAN,
    SILENCE,
    Desk,
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
from tests.factories import World

WEDNESDAY_BEFORE_NATIONAL_DAY = sh(2026, 9, 30, 15)


@pytest.fixture
def clock_start() -> datetime:
    return WEDNESDAY_BEFORE_NATIONAL_DAY.astimezone(UTC)


@pytest.fixture
async def desk(client: httpx.AsyncClient, world: World) -> Desk:
    return await make_desk(client, world)


async def test_resolve_schedules_the_callback_survey_and_silence_close(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    # Oct 1-7 are the National Day holidays (Oct 3-4 a weekend among them): Thursday
    # Oct 8 is the next business day.
    assert cb["due_at"] == sh(2026, 10, 8, 10)
    assert cb["state"] == "open" and cb["reason"] == "resolution"
    assert cb["agent_id"] == desk.agent_id  # the agent who registered it calls back
    assert str(cb["contact_id"]) == str(desk.world.contact_id)
    overdue = await timer(OVERDUE, cb["id"])
    assert overdue and overdue["state"] == "pending"
    assert overdue["due_at"] == sh(2026, 10, 8, 11)  # the due time and an hour's grace
    silence = await timer(SILENCE, t["id"])
    # Three business days: Oct 8, 9 and Saturday Oct 10 (a working day, 调休).
    assert silence and silence["due_at"] == sh(2026, 10, 10, 15)
    [survey] = await rows("SELECT * FROM surveys WHERE ticket_id = :t", t=t["id"])
    assert survey["resolution_no"] == 0 and survey["answered_at"] is None
    assert survey["expires_at"] == sh(2026, 10, 14, 15)

    types = [e["type"] for e in await events_of(client, admin, t["id"])]
    assert types[-4:] == ["ticket.resolved", "survey.created", "callback.scheduled",
                          "silence_close.scheduled"]  # fmt: skip
    [scheduled] = await outbox("callback.scheduled", t["id"])
    assert scheduled["data"]["callback_id"] == str(cb["id"])
    assert scheduled["data"]["due_at"] == "2026-10-08T02:00:00+00:00"
    assert scheduled["data"]["agent_id"] == str(desk.agent_id)

    r = await client.get(f"/v1/callbacks/{cb['id']}", headers=desk.agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket_id"] == t["id"] and body["max_attempts"] == 3
    assert body["history"] == [] and body["overdue"] is False
    assert r.headers["etag"] == 'W/"1.3"'  # the version, and the policy's max_attempts


@pytest.mark.parametrize(
    ("resolved", "due"),
    [
        # Friday evening: the weekend is skipped.
        (sh(2026, 3, 6, 17), sh(2026, 3, 9, 10)),
        # Saturday: Monday.
        (sh(2026, 3, 7, 12), sh(2026, 3, 9, 10)),
        # Friday before an adjusted working Saturday (Oct 10, 2026 is worked: 调休).
        (sh(2026, 10, 9, 15), sh(2026, 10, 10, 10)),
        # Spring Festival 2026: Feb 16-23 off, Feb 14 a working Saturday.
        (sh(2026, 2, 13, 16), sh(2026, 2, 14, 10)),
        (sh(2026, 2, 14, 16), sh(2026, 2, 24, 10)),
        # A plain Tuesday morning: Wednesday.
        (sh(2026, 3, 10, 9), sh(2026, 3, 11, 10)),
    ],
)
async def test_the_callback_is_due_at_ten_on_the_next_business_day(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock, resolved: datetime, due: datetime
) -> None:
    t = await resolved_ticket(client, desk, clock, resolved)
    [cb] = await callbacks_of(t["id"])
    assert cb["due_at"] == due


async def _attempt(client: httpx.AsyncClient, headers: dict[str, str], cb: Any,
                   outcome: str, note: str | None = None, status: int = 201) -> dict[str, Any]:  # fmt: skip
    body = {"outcome": outcome, **({"note": note} if note is not None else {})}
    r = await client.post(f"/v1/callbacks/{cb['id']}/attempts", json=body, headers=headers)
    assert r.status_code == status, r.text
    return dict(r.json())


async def _ticket(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/tickets/{tid}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_satisfied_confirms_and_closes_the_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10, 5))
    out = await _attempt(client, desk.agent, cb, "satisfied", "客户确认设备运行正常")
    assert out["state"] == "done" and out["outcome"] == "satisfied" and out["attempts"] == 1
    assert out["completed_at"] == "2026-10-08T02:05:00Z"
    assert [(h["outcome"], h["note"]) for h in out["history"]] == [
        ("satisfied", "客户确认设备运行正常")
    ]
    ticket = await _ticket(client, admin, t["id"])
    assert ticket["status"] == "closed" and ticket["close_reason"] == "confirmed_by_reporter"
    # The follow-up ends with the resolution: the overdue notice and the silence close.
    assert (await timer(OVERDUE, cb["id"]))["state"] == "cancelled"  # type: ignore[index]
    assert (await timer(SILENCE, t["id"]))["state"] == "cancelled"  # type: ignore[index]
    events = await events_of(client, admin, t["id"])
    tail = [(e["type"], e["channel"]) for e in events[-2:]]
    assert tail == [("callback.attempted", "phone"), ("ticket.closed", "phone")]
    assert events[-2]["data"]["attempt_outcome"] == "satisfied"
    assert events[-1]["data"]["contact_id"] == str(desk.world.contact_id)
    # Done is done: no further call is recorded.
    again = await _attempt(client, desk.agent, cb, "no_answer", status=409)
    assert again["current_state"] == "done"


async def test_not_solved_reopens_the_ticket_with_the_note(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10))
    problem(await client.post(f"/v1/callbacks/{cb['id']}/attempts",
                              json={"outcome": "not_solved"}, headers=desk.agent), 422, "note")  # fmt: skip
    out = await _attempt(client, desk.agent, cb, "not_solved", "客户反馈备用电源仍告警")
    assert out["state"] == "done" and out["outcome"] == "not_solved"
    ticket = await _ticket(client, admin, t["id"])
    assert ticket["status"] == "in_progress" and ticket["reopen_count"] == 1
    [reopened] = await events_of(client, admin, t["id"], "ticket.reopened")
    assert reopened["data"]["reason"] == "客户反馈备用电源仍告警"
    assert (await timer(SILENCE, t["id"]))["state"] == "cancelled"  # type: ignore[index]
    # Resolved again: a callback (and a survey) of the second resolution.
    clock.set(sh(2026, 10, 9, 16))
    r = await client.post(f"/v1/tickets/{t['id']}/resolve",
                          json={"resolution_summary": "更换备用电源"}, headers=desk.engineer)  # fmt: skip
    assert r.status_code == 200, r.text
    first, second = await callbacks_of(t["id"])
    assert first["state"] == "done" and second["state"] == "open"
    assert second["due_at"] == sh(2026, 10, 10, 10)  # the working Saturday
    surveys = await rows("SELECT resolution_no FROM surveys WHERE ticket_id = :t ORDER BY 1",
                         t=t["id"])  # fmt: skip
    assert [s["resolution_no"] for s in surveys] == [0, 1]


async def test_no_answer_is_tried_again_in_working_hours_then_closed_unreachable(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10, 5))
    out = await _attempt(client, desk.agent, cb, "no_answer", "无人接听")
    assert out["state"] == "open" and out["attempts"] == 1
    assert out["due_at"] == "2026-10-08T04:05:00Z"  # 120 minutes later: 12:05
    assert (await timer(OVERDUE, cb["id"]))["due_at"] == sh(2026, 10, 8, 13, 5)  # type: ignore[index]
    clock.set(sh(2026, 10, 8, 17, 30))
    out = await _attempt(client, desk.agent2, cb, "no_answer")
    # 19:30 is after hours: the next working instant, 09:00 on Friday.
    assert out["due_at"] == "2026-10-09T01:00:00Z" and out["attempts"] == 2
    assert out["agent_id"] == str(desk.agent_id)  # still the agent's (agent2 stood in)
    clock.set(sh(2026, 10, 9, 9, 10))
    out = await _attempt(client, desk.agent, cb, "no_answer")
    assert out["state"] == "done" and out["outcome"] == "unreachable" and out["attempts"] == 3
    assert [h["outcome"] for h in out["history"]] == ["no_answer"] * 3
    ticket = await _ticket(client, admin, t["id"])
    assert ticket["status"] == "closed" and ticket["close_reason"] == "closed_unreachable"
    [closed] = await outbox("ticket.closed", t["id"])
    assert closed["data"]["close_reason"] == "closed_unreachable"
    attempted = await events_of(client, admin, t["id"], "callback.attempted")
    assert [e["data"]["attempt"] for e in attempted] == [1, 2, 3]
    assert attempted[-1]["data"]["outcome"] == "unreachable"


async def _policy(client: httpx.AsyncClient, h: dict[str, str], customer: Any,
                  status: int = 201, **kw: Any) -> dict[str, Any]:  # fmt: skip
    r = await client.get("/v1/callback-policy", headers=h)
    assert r.status_code == 200, r.text
    body = {k: v for k, v in r.json().items()
            if k not in ("customer_id", "inherited", "version", "updated_at")} | kw  # fmt: skip
    r = await client.put(f"/v1/customers/{customer}/callback-policy", json=body, headers=h)
    assert r.status_code == status, r.text
    return dict(r.json())


async def test_unreachable_leaves_the_ticket_resolved_when_the_policy_says_so(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    await _policy(client, desk.manager, desk.world.customer_id, max_attempts=1,
                  on_exhausted="leave_open")  # fmt: skip
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10))
    out = await _attempt(client, desk.agent, cb, "no_answer")
    assert out["outcome"] == "unreachable" and out["max_attempts"] == 1
    assert (await _ticket(client, admin, t["id"]))["status"] == "resolved"
    # ... until it closes on silence (tests/api/test_silence_close.py).
    assert (await timer(SILENCE, t["id"]))["state"] == "pending"  # type: ignore[index]


async def test_a_disabled_policy_schedules_no_callback_but_keeps_survey_and_silence(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    await _policy(client, desk.manager, desk.world.customer_id, enabled=False,
                  silence_business_days=5, calendar_id="01a20a8b-77d6-7000-b484-73fa5eab49d3")  # fmt: skip
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    assert await callbacks_of(t["id"]) == []
    assert len(await rows("SELECT id FROM surveys WHERE ticket_id = :t", t=t["id"])) == 1
    # On the 7x24 calendar every day is a business day: five days later, same time.
    assert (await timer(SILENCE, t["id"]))["due_at"] == sh(2026, 10, 5, 15)  # type: ignore[index]


async def test_an_overdue_callback_raises_its_event_through_the_timer(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10, 59))
    assert await fire(OVERDUE) == 0  # within the grace
    r = await client.get(f"/v1/callbacks/{cb['id']}", headers=desk.agent)
    assert r.json()["overdue"] is False
    clock.set(sh(2026, 10, 8, 11, 0))
    assert await fire(OVERDUE) == 1
    assert await fire(OVERDUE) == 0  # once
    r = await client.get(f"/v1/callbacks/{cb['id']}", headers=desk.agent)
    assert r.json()["overdue"] is True and r.json()["overdue_at"] == "2026-10-08T03:00:00Z"
    [event] = await events_of(client, admin, t["id"], "callback.overdue")
    assert event["actor_name"] == "Supportline" and event["data"]["agent_id"] == str(desk.agent_id)
    [notice] = await outbox("callback.overdue", t["id"])
    assert notice["data"]["overdue_since"] == "2026-10-08T02:00:00+00:00"
    r = await client.get("/v1/callbacks", params={"overdue": "true"}, headers=desk.agent)
    assert [c["id"] for c in r.json()["items"]] == [str(cb["id"])]
    # Rescheduled, it is on time again, and overdue again only after its new due time.
    r = await client.patch(f"/v1/callbacks/{cb['id']}", json={"due_at": "2026-10-09T06:00:00Z"},
                           headers={**desk.agent, "If-Match": 'W/"2"'})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is False and r.json()["overdue_at"] is None
    clock.set(sh(2026, 10, 9, 14, 59))
    assert await fire(OVERDUE) == 0
    clock.set(sh(2026, 10, 9, 15, 0))
    assert await fire(OVERDUE) == 1
    assert len(await events_of(client, admin, t["id"], "callback.overdue")) == 2


async def test_reassign_and_reschedule_with_if_match(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    from tests.conftest import issue_key

    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    url = f"/v1/callbacks/{cb['id']}"
    r = await client.patch(url, json={"agent_id": str(desk.agent2_id)},
                           headers={**desk.agent, "If-Match": 'W/"7"'})  # fmt: skip
    problem(r, 412)
    engineer_id = (await client.get("/v1/me", headers=desk.engineer)).json()["id"]
    problem(await client.patch(url, json={"agent_id": engineer_id}, headers=desk.agent), 422,
            "agent_id")  # fmt: skip
    elsewhere = await issue_key("agent", desk.world.other_branch_id)
    other_id = (await client.get("/v1/me", headers=elsewhere)).json()["id"]
    problem(await client.patch(url, json={"agent_id": other_id}, headers=desk.agent), 422,
            "agent_id")  # fmt: skip
    problem(await client.patch(url, json={"due_at": "2026-09-30T06:00:00Z"}, headers=desk.agent),
            422, "due_at")  # fmt: skip
    problem(await client.patch(url, json={"due_at": "2026-10-09T06:00:00"}, headers=desk.agent),
            422, "due_at")  # a time without its zone is refused  # fmt: skip
    problem(await client.patch(url, json={"due_at": None}, headers=desk.agent), 422, "due_at")
    # Another branch's key does not see it.
    problem(await client.patch(url, json={"note": "x"}, headers=elsewhere), 404)

    r = await client.patch(url, json={"agent_id": str(desk.agent2_id), "due_at": "2026-10-09T06:00:00Z",
                                      "note": "客户要求周五下午联系"},
                           headers={**desk.agent, "If-Match": 'W/"1"'})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["agent_id"] == str(desk.agent2_id) and body["due_at"] == "2026-10-09T06:00:00Z"
    assert body["version"] == 2 and r.headers["etag"] == 'W/"2.3"'
    assert (await timer(OVERDUE, cb["id"]))["due_at"] == sh(2026, 10, 9, 15)  # type: ignore[index]
    types = [e["type"] for e in await events_of(client, admin, t["id"], "callback.")]
    assert types == ["callback.scheduled", "callback.reassigned", "callback.rescheduled"]
    # The same again changes nothing (no new version, no event).
    r = await client.patch(url, json={"due_at": "2026-10-09T14:00:00+08:00"}, headers=desk.agent)
    assert r.status_code == 200 and r.json()["version"] == 2
    # Unassigned, it waits in the branch's queue.
    r = await client.patch(url, json={"agent_id": None}, headers=desk.agent)
    assert r.status_code == 200 and r.json()["agent_id"] is None
    # An engineer makes no callbacks.
    problem(await client.patch(url, json={"note": "x"}, headers=desk.engineer), 403)


async def test_the_queue_per_agent_and_the_callers_own(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    from tests.api.conftest import walk_pages
    from tests.conftest import issue_key

    first = await resolved_ticket(client, desk, clock, sh(2026, 10, 9, 15))  # due Oct 10
    second = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)  # Oct 8
    third = await resolved_ticket(client, desk, clock, sh(2026, 10, 8, 16))  # Oct 9
    ids = {t["id"]: (await callbacks_of(t["id"]))[0]["id"] for t in (first, second, third)}
    r = await client.patch(f"/v1/callbacks/{ids[third['id']]}", json={"agent_id": str(desk.agent2_id)},
                           headers=desk.agent)  # fmt: skip
    assert r.status_code == 200, r.text

    mine = await walk_pages(
        client, desk.agent, "/v1/callbacks", limit=1, agent_id=str(desk.agent_id)
    )
    assert [c["ticket_id"] for c in mine] == [second["id"], first["id"]]  # soonest first
    due = await walk_pages(client, desk.agent, "/v1/callbacks", agent_id=str(desk.agent_id),
                           due_before="2026-10-09T00:00:00Z")  # fmt: skip
    assert [c["ticket_id"] for c in due] == [second["id"]]
    own = await walk_pages(client, desk.agent2, "/v1/me/callbacks")
    assert [c["ticket_id"] for c in own] == [third["id"]]
    everyone = await walk_pages(client, admin, "/v1/callbacks", limit=2, state="open")
    assert [c["ticket_id"] for c in everyone] == [second["id"], third["id"], first["id"]]
    assert await walk_pages(client, admin, "/v1/callbacks", state="done") == []
    assert await walk_pages(client, admin, "/v1/callbacks", unassigned="true") == []
    # Another branch sees none of them; an engineer may not look.
    elsewhere = await issue_key("agent", desk.world.other_branch_id)
    assert await walk_pages(client, elsewhere, "/v1/callbacks") == []
    problem(await client.get("/v1/me/callbacks", headers=desk.engineer), 403)
    problem(await client.get("/v1/callbacks", params={"cursor": "bm90IGEgY3Vyc29y"},
                             headers=admin), 400)  # fmt: skip
    problem(await client.get("/v1/callbacks", params={"state": "lost"}, headers=admin), 422)
    problem(await client.get(f"/v1/callbacks/{ids[first['id']]}", headers=elsewhere), 404)


async def test_policies_default_and_per_customer(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    r = await client.get("/v1/callback-policy", headers=desk.agent)
    assert r.status_code == 200, r.text
    default = r.json()
    assert default["customer_id"] is None and default["inherited"] is False
    assert (default["local_time"], default["after_business_days"], default["max_attempts"],
            default["retry_minutes"], default["on_exhausted"], default["silence_business_days"]) == (
        "10:00", 1, 3, 120, "close", 3)  # fmt: skip
    assert default["calendar_id"] == "01a20a8b-77d6-7001-8b36-4d5701a3307d"  # cn-5x8
    body = {k: default[k] for k in ("enabled", "calendar_id", "local_time", "after_business_days",
                                    "max_attempts", "retry_minutes", "on_exhausted",
                                    "silence_business_days")}  # fmt: skip
    # The default of every branch is not a branch manager's to change; agents change none.
    problem(await client.put("/v1/callback-policy", json=body, headers=desk.manager), 403)
    problem(await client.put("/v1/callback-policy", json=body, headers=desk.agent), 403)
    r = await client.put("/v1/callback-policy", json=body | {"local_time": "14:30"},
                         headers={**admin, "If-Match": r.headers["etag"]})  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 2, r.text

    url = f"/v1/customers/{desk.world.customer_id}/callback-policy"
    r = await client.get(url, headers=desk.agent)
    assert r.json()["inherited"] is True and r.json()["local_time"] == "14:30"
    assert r.headers["etag"] == 'W/"0.default2"'
    problem(await client.put(url, json=body | {"calendar_id": "01a20a8b-77d6-7001-8b36-000000000000"},
                             headers=desk.manager), 422, "calendar_id")  # fmt: skip
    problem(await client.put(url, json=body | {"local_time": "25:00"}, headers=desk.manager), 422)
    problem(await client.put(url, json=body | {"on_exhausted": "shrug"}, headers=desk.manager), 422)
    problem(await client.put(url, json={"enabled": True}, headers=desk.manager), 422)
    r = await client.put(url, json=body | {"after_business_days": 2},
                         headers={**desk.manager, "If-Match": 'W/"0"'})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["inherited"] is False and r.json()["after_business_days"] == 2
    problem(await client.put(url, json=body, headers={**desk.manager, "If-Match": 'W/"0"'}), 412)
    r = await client.put(url, json=body | {"after_business_days": 0, "local_time": "14:30"},
                         headers=desk.manager)  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 2
    # The customer's own applies: the same day at 14:30 when resolved before it.
    t = await resolved_ticket(client, desk, clock, sh(2026, 9, 30, 11))
    assert (await callbacks_of(t["id"]))[0]["due_at"] == sh(2026, 9, 30, 14, 30)
    # Another branch's customer is not found; removing the own policy inherits again.
    other = f"/v1/customers/{desk.world.other_customer_id}/callback-policy"
    problem(await client.get(other, headers=desk.agent), 404)
    problem(await client.put(other, json=body, headers=desk.manager), 404)
    r = await client.delete(url, headers=desk.manager)
    assert r.status_code == 204, r.text
    assert (await client.get(url, headers=desk.agent)).json()["inherited"] is True
    problem(await client.delete(url, headers=desk.manager), 404)


async def _plan(client: httpx.AsyncClient, desk: Desk, status: int = 201,
                **kw: Any) -> dict[str, Any]:  # fmt: skip
    body = {"customer_id": str(desk.world.customer_id), "contact_id": str(desk.world.contact_id),
            "agent_id": str(desk.agent_id), "every_weeks": 2,
            "first_due_at": "2026-10-05T02:00:00Z", "note": "重点客户双周回访"} | kw  # fmt: skip
    r = await client.post("/v1/contact-plans", json=body, headers=desk.manager)
    assert r.status_code == status, r.text
    return dict(r.json())


async def test_a_contact_plan_makes_a_callback_of_its_own_every_n_weeks(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    # First call: Monday Oct 5, 10:00, a National Day holiday.
    plan = await _plan(client, desk)
    assert plan["next_due_at"] == "2026-10-05T02:00:00Z" and plan["active"] is True
    assert (await timer(PLAN, plan["id"]))["due_at"] == sh(2026, 10, 4, 10)  # type: ignore[index]
    [created] = await outbox("contact_plan.created", plan["id"])
    assert created["every_weeks"] == 2
    clock.set(sh(2026, 10, 4, 9, 59))
    assert await fire(PLAN) == 0
    clock.set(sh(2026, 10, 4, 10))
    assert await fire(PLAN) == 1
    [cb] = await rows("SELECT * FROM callbacks WHERE plan_id = :p", p=plan["id"])
    # The holiday moves the call to the next business day, at the same time.
    assert cb["due_at"] == sh(2026, 10, 8, 10) and cb["reason"] == "plan"
    assert cb["agent_id"] == desk.agent_id and cb["ticket_id"] is None
    assert cb["note"] == "重点客户双周回访"
    [scheduled] = await outbox("callback.scheduled", cb["id"])
    assert scheduled["plan_id"] == plan["id"]
    # ... and not the plan: the next call is two weeks after Oct 5, its timer a day ahead.
    r = await client.get(f"/v1/contact-plans/{plan['id']}", headers=desk.agent)
    assert r.json()["next_due_at"] == "2026-10-19T02:00:00Z" and r.json()["version"] == 2
    assert (await timer(PLAN, plan["id"]))["due_at"] == sh(2026, 10, 18, 10)  # type: ignore[index]
    assert await fire(PLAN) == 0  # nothing twice
    mine = (await client.get("/v1/me/callbacks", headers=desk.agent)).json()["items"]
    assert [c["id"] for c in mine] == [str(cb["id"])]

    # A plan's call is done (or unreachable): it has no ticket to confirm or reopen.
    url = f"/v1/callbacks/{cb['id']}/attempts"
    problem(await client.post(url, json={"outcome": "satisfied"}, headers=desk.agent), 422,
            "outcome")  # fmt: skip
    clock.set(sh(2026, 10, 8, 10, 20))
    r = await client.post(url, json={"outcome": "done", "note": "设备运行正常, 客户无新需求"},
                          headers=desk.agent)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "done" and r.json()["outcome"] == "done"
    [attempted] = await outbox("callback.attempted", cb["id"])
    assert attempted["attempt_outcome"] == "done"

    # The workers stopped for five weeks: one late call, the missed ones skipped.
    clock.set(sh(2026, 11, 20, 9))
    assert await fire(PLAN) == 1
    calls = await rows("SELECT due_at FROM callbacks WHERE plan_id = :p ORDER BY due_at",
                       p=plan["id"])  # fmt: skip
    assert [c["due_at"] for c in calls] == [sh(2026, 10, 8, 10), sh(2026, 10, 19, 10)]
    r = await client.get(f"/v1/contact-plans/{plan['id']}", headers=desk.agent)
    assert r.json()["next_due_at"] == "2026-11-30T02:00:00Z"

    # Paused, it makes no more calls; resumed, it takes the next date of its grid.
    etag = r.headers["etag"]
    r = await client.patch(f"/v1/contact-plans/{plan['id']}", json={"active": False},
                           headers={**desk.manager, "If-Match": etag})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await timer(PLAN, plan["id"]))["state"] == "cancelled"  # type: ignore[index]
    clock.set(sh(2026, 12, 8, 9))
    r = await client.patch(f"/v1/contact-plans/{plan['id']}", json={"active": True},
                           headers=desk.manager)  # fmt: skip
    assert r.json()["next_due_at"] == "2026-12-14T02:00:00Z"
    assert (await timer(PLAN, plan["id"]))["state"] == "pending"  # type: ignore[index]
    listed = (await client.get("/v1/contact-plans", params={"customer_id": str(desk.world.customer_id)},
                               headers=desk.agent)).json()["items"]  # fmt: skip
    assert [p["id"] for p in listed] == [plan["id"]]


async def test_contact_plans_refuse_what_is_not_theirs(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    from tests.conftest import issue_key

    await _plan(client, desk, 422, customer_id=str(desk.world.other_customer_id))
    await _plan(client, desk, 422, contact_id=str(desk.world.other_contact_id))
    engineer_id = (await client.get("/v1/me", headers=desk.engineer)).json()["id"]
    await _plan(client, desk, 422, agent_id=engineer_id)
    await _plan(client, desk, 422, first_due_at="2026-09-01T02:00:00Z")
    await _plan(client, desk, 422, first_due_at="2028-09-01T02:00:00Z")
    await _plan(client, desk, 422, every_weeks=0)
    await _plan(client, desk, 422, every_weeks=53)
    r = await client.post("/v1/contact-plans", json={"customer_id": str(desk.world.customer_id),
                          "every_weeks": 4, "first_due_at": "2026-10-12T02:00:00Z"},
                          headers=desk.agent)  # fmt: skip
    problem(r, 403)  # plans are management's
    plan = await _plan(client, desk)
    elsewhere = await issue_key("manager", desk.world.other_branch_id)
    problem(await client.get(f"/v1/contact-plans/{plan['id']}", headers=elsewhere), 404)
    problem(await client.patch(f"/v1/contact-plans/{plan['id']}", json={"every_weeks": 1},
                               headers=elsewhere), 404)  # fmt: skip
    problem(await client.patch(f"/v1/contact-plans/{plan['id']}", json={"every_weeks": None},
                               headers=desk.manager), 422, "every_weeks")  # fmt: skip


async def test_hostile_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    url = f"/v1/callbacks/{cb['id']}/attempts"
    bodies: list[Any] = [
        {"outcome": "satisfied", "note": "a\u0000b"},
        {"outcome": "satisfied", "note": "x" * 4001},
        {"outcome": "maybe"},
        {"outcome": 1},
        {"outcome": "satisfied", "extra": True},
        [],
    ]
    for body in bodies:
        problem(await client.post(url, json=body, headers=desk.agent), 422)
    problem(await client.post("/v1/callbacks/not-a-uuid/attempts", json={"outcome": "done"},
                              headers=desk.agent), 422)  # fmt: skip
    problem(await client.post(f"/v1/callbacks/{t['id']}/attempts", json={"outcome": "done"},
                              headers=desk.agent), 404)  # a ticket's id is no callback's  # fmt: skip
    # A lone surrogate travels as its JSON escape, as any client library sends it.
    problem(await client.patch(f"/v1/callbacks/{cb['id']}", content=b'{"note": "\\ud800"}',
                               headers={**desk.agent, "Content-Type": "application/json"}),
            422)  # fmt: skip
    assert await rows("SELECT id FROM callback_attempts") == []
    [again] = await callbacks_of(t["id"])
    assert again["version"] == 1 and again["attempts"] == 0
    assert (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()[
        "status"
    ] == "resolved"


async def test_an_attempt_is_idempotent_with_a_key(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, WEDNESDAY_BEFORE_NATIONAL_DAY)
    [cb] = await callbacks_of(t["id"])
    clock.set(sh(2026, 10, 8, 10))
    h = {**desk.agent, "Idempotency-Key": "call-1"}
    first = await client.post(f"/v1/callbacks/{cb['id']}/attempts", json={"outcome": "no_answer"},
                              headers=h)  # fmt: skip
    again = await client.post(f"/v1/callbacks/{cb['id']}/attempts", json={"outcome": "no_answer"},
                              headers=h)  # fmt: skip
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert len(await rows("SELECT id FROM callback_attempts")) == 1
