from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import create_ticket, ticket_events, walk_pages
from tests.conftest import issue_key
from tests.factories import World, ticket_body


async def _outbox_types(tid: str) -> list[str]:
    from sqlalchemy import text

    from app.core.db import open_uow

    async with open_uow() as uow:
        rows = await uow.session.execute(
            text("SELECT event_type FROM outbox WHERE aggregate_id = :t ORDER BY id"), {"t": tid}
        )
        return [r[0] for r in rows]
    return []


# --- creation ---------------------------------------------------------------------


async def test_create_derives_priority_attaches_contract_and_writes_event_and_outbox(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
    assert r.status_code == 201, r.text
    t = r.json()
    assert re.fullmatch(r"T20\d\d-\d{6}", t["number"])
    assert t["priority"] == "P1" and t["priority_source"] == "derived"
    assert t["contract_id"] == str(world.contract_id)
    assert t["uncontracted"] is False and t["service_level"] == "7x24"
    assert t["status"] == "new" and t["branch_id"] == str(world.branch_id)
    assert t["allowed_actions"] == ["acknowledge", "assign", "start", "cancel"]
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"/v1/tickets/{t['id']}"
    got = await client.get(f"/v1/tickets/{t['id']}", headers=admin)
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if k != "fault_started_at"} == {
        k: v for k, v in t.items() if k != "fault_started_at"
    }
    events = await ticket_events(client, admin, t["id"])
    assert [e["type"] for e in events] == ["ticket.created"]
    assert events[0]["after"]["number"] == t["number"]
    assert events[0]["channel"] == "phone" and events[0]["actor_role"] == "admin"
    assert await _outbox_types(t["id"]) == ["ticket.created"]


async def test_numbers_are_unique_and_increasing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    results = await asyncio.gather(*[create_ticket(client, admin, world) for _ in range(10)])
    numbers = sorted(t["number"] for t in results)
    assert len(set(numbers)) == 10
    seq = [int(n.split("-")[1]) for n in numbers]
    assert seq == sorted(seq)


async def test_uncovered_device_is_uncontracted_with_default_level(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(
        client, admin, world, device_id=str(world.bare_device_id), priority="P3"
    )
    assert t["uncontracted"] is True and t["contract_id"] is None
    assert t["service_level"] == "basic"
    assert t["priority"] == "P3" and t["priority_source"] == "given"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"device_id": "other"}, "device_id"),
        ({"contact_id": "other"}, "contact_id"),
        ({"category": "no-such-category"}, "category"),
    ],
)
async def test_create_refuses_foreign_device_contact_and_unknown_category(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    override: dict[str, str],
    field: str,
) -> None:
    values = {
        k: (
            str(world.other_device_id)
            if v == "other" and k == "device_id"
            else str(world.other_contact_id)
            if v == "other"
            else v
        )
        for k, v in override.items()
    }
    r = await client.post("/v1/tickets", json=ticket_body(world, **values), headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    listing = await client.get("/v1/tickets", headers=admin)
    assert listing.json()["items"] == []


async def test_create_needs_priority_or_impact_and_urgency(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    body = ticket_body(world)
    del body["urgency"]
    r = await client.post("/v1/tickets", json=body, headers=admin)
    assert r.status_code == 422


async def test_create_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post(
        "/v1/tickets", content=b"{not json", headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json")
    r = await client.post("/v1/tickets", json=ticket_body(world, channel="pigeon"), headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "channel"]
    r = await client.post(
        "/v1/tickets", json={**ticket_body(world), "status": "closed"}, headers=admin
    )
    assert r.status_code == 422  # server-owned fields are not writable
    r = await client.post("/v1/tickets", json=ticket_body(world, customer_id="nope"), headers=admin)
    assert r.status_code == 422
    r = await client.post(
        "/v1/tickets", json=ticket_body(world, customer_id=str(uuid.uuid4())), headers=admin
    )
    assert r.status_code == 404
    r = await client.post(
        "/v1/tickets",
        json=ticket_body(world, fault_started_at="2026-03-02T08:40:00"),
        headers=admin,
    )
    assert r.status_code == 422  # naive datetimes are ambiguous
    r = await client.post("/v1/tickets", json=ticket_body(world, subject="x" * 301), headers=admin)
    assert r.status_code == 422


async def test_sql_and_html_in_text_are_stored_verbatim(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    subject = "'; DROP TABLE tickets; -- <script>alert(1)</script>"
    t = await create_ticket(
        client, admin, world, subject=subject, description="<img src=x onerror=1>"
    )
    got = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()
    assert got["subject"] == subject and got["description"] == "<img src=x onerror=1>"
    r = await client.get("/v1/tickets", params={"q": "DROP TABLE"}, headers=admin)
    assert [i["id"] for i in r.json()["items"]] == [t["id"]]


# --- access -----------------------------------------------------------------------


async def test_branch_scope_and_roles(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    other = await issue_key("dispatcher", world.other_branch_id)
    assert (await client.get(f"/v1/tickets/{t['id']}", headers=other)).status_code == 404
    r = await client.post(f"/v1/tickets/{t['id']}/acknowledge", json={}, headers=other)
    assert r.status_code == 404
    assert (await client.get("/v1/tickets", headers=other)).json()["items"] == []
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=other)
    assert r.status_code == 404  # the customer is not visible from the other branch
    own = await issue_key("agent", world.branch_id)
    assert (await client.get(f"/v1/tickets/{t['id']}", headers=own)).status_code == 200
    r = await client.post(
        f"/v1/tickets/{t['id']}/resolve", json={"resolution_summary": "x"}, headers=own
    )
    assert r.status_code == 403  # agents do not work tickets
    integ = await issue_key("integration")
    r = await client.post(f"/v1/tickets/{t['id']}/cancel", json={"reason": "x"}, headers=integ)
    assert r.status_code == 403
    assert (await client.get(f"/v1/tickets/{t['id']}")).status_code == 401


# --- lifecycle --------------------------------------------------------------------


async def test_full_lifecycle_with_timeline(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    engineer = await issue_key("engineer", world.branch_id)
    agent = await issue_key("agent", world.branch_id)
    t = await create_ticket(client, agent, world)
    tid = t["id"]

    async def act(
        name: str, headers: dict[str, str], body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        r = await client.post(f"/v1/tickets/{tid}/{name}", json=body or {}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    t = await act("acknowledge", engineer)
    assert t["status"] == "assigned" and t["owner_id"] is not None and t["acknowledged_at"]
    t = await act("start", engineer)
    assert t["status"] == "in_progress"
    t = await act("wait", engineer, {"on": "customer", "note": "等待客户提供日志"})
    assert t["status"] == "waiting_customer"
    t = await act("resume", engineer)
    # (Waiting on parts needs an open part request: tests/api/test_parts_requests.py.)
    t = await act("wait", engineer, {"on": "vendor"})
    assert t["status"] == "waiting_vendor"
    t = await act("resolve", engineer, {"resolution_summary": "更换电源模块后业务恢复"})
    assert t["status"] == "resolved" and t["resolution_summary"] and t["resolved_at"]
    assert t["allowed_actions"] == ["confirm", "reopen"]
    t = await act("reopen", agent, {"reason": "客户反馈问题复现"})
    assert t["status"] == "in_progress" and t["reopen_count"] == 1 and t["resolved_at"] is None
    t = await act("resolve", engineer, {"resolution_summary": "更换背板"})
    t = await act("confirm", agent, {"contact_id": str(world.contact_id)})
    assert t["status"] == "closed" and t["close_reason"] == "confirmed_by_reporter"
    assert t["version"] == 10
    # The ticket's own events (a resolution's follow-up, tests/api/test_callbacks.py, adds
    # callback.*, survey.* and silence_close.* events of its own).
    own = ("ticket.",)
    types = [
        e["type"] for e in await ticket_events(client, admin, tid) if e["type"].startswith(own)
    ]
    assert types == [
        "ticket.created",
        "ticket.acknowledged",
        "ticket.assigned",
        "ticket.started",
        "ticket.waiting",
        "ticket.resumed",
        "ticket.waiting",
        "ticket.resolved",
        "ticket.reopened",
        "ticket.resolved",
        "ticket.closed",
    ]
    events = await ticket_events(client, admin, tid)
    waiting = events[4]
    assert waiting["before"]["status"] == "in_progress"
    assert waiting["after"]["status"] == "waiting_customer"
    assert waiting["data"] == {"note": "等待客户提供日志", "waiting_on": "customer"}
    assert [x for x in await _outbox_types(tid) if x.startswith(own)] == types


async def test_illegal_transition_is_409_naming_state_and_allowed(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    r = await client.post(
        f"/v1/tickets/{t['id']}/resolve", json={"resolution_summary": "x"}, headers=admin
    )
    assert r.status_code == 409
    body = r.json()
    assert body["type"].endswith("/invalid-transition")
    assert body["current_state"] == "new"
    assert body["allowed_actions"] == ["acknowledge", "assign", "start", "cancel"]
    assert [e["type"] for e in await ticket_events(client, admin, t["id"])] == ["ticket.created"]
    r = await client.post(
        f"/v1/tickets/{t['id']}/cancel", json={"reason": "重复工单"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await client.post(f"/v1/tickets/{t['id']}/reopen", json={"reason": "x"}, headers=admin)
    assert r.status_code == 409 and r.json()["allowed_actions"] == []


async def test_reopen_after_window_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:

    from sqlalchemy import text

    from app.core.db import open_uow

    t = await create_ticket(client, admin, world)
    for name, body in [
        ("start", {}),
        ("resolve", {"resolution_summary": "ok"}),
        ("confirm", {}),
    ]:
        assert (
            await client.post(f"/v1/tickets/{t['id']}/{name}", json=body, headers=admin)
        ).status_code == 200
    async with open_uow() as uow:
        await uow.session.execute(
            text(
                "UPDATE tickets SET closed_at = closed_at - make_interval(days => 15) WHERE id = :id"
            ),
            {"id": t["id"]},
        )
    r = await client.post(f"/v1/tickets/{t['id']}/reopen", json={"reason": "again"}, headers=admin)
    assert r.status_code == 409 and "no longer" in r.json()["detail"]


async def test_action_body_validation(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    await client.post(f"/v1/tickets/{t['id']}/start", json={}, headers=admin)
    r = await client.post(f"/v1/tickets/{t['id']}/wait", json={"on": "godot"}, headers=admin)
    assert r.status_code == 422
    r = await client.post(f"/v1/tickets/{t['id']}/resolve", json={}, headers=admin)
    assert r.status_code == 422
    r = await client.post(f"/v1/tickets/{uuid.uuid4()}/start", json={}, headers=admin)
    assert r.status_code == 404
    r = await client.post("/v1/tickets/not-a-uuid/start", json={}, headers=admin)
    assert r.status_code == 422
    r = await client.post(
        f"/v1/tickets/{t['id']}/start", json={}, headers={**admin, "X-Channel": "telepathy"}
    )
    assert r.status_code == 400


async def test_assign_checks_owner(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    dispatcher = await issue_key("dispatcher", world.branch_id)
    from app.access import service as access_service

    me = (await client.get("/v1/me", headers=dispatcher)).json()
    foreign = await issue_key("engineer", world.other_branch_id)
    foreign_id = (await client.get("/v1/me", headers=foreign)).json()["id"]
    r = await client.post(
        f"/v1/tickets/{t['id']}/assign", json={"owner_id": foreign_id}, headers=dispatcher
    )
    assert r.status_code == 422 and r.json()["field"] == "owner_id"
    r = await client.post(
        f"/v1/tickets/{t['id']}/assign", json={"owner_id": str(uuid.uuid4())}, headers=dispatcher
    )
    assert r.status_code == 422
    r = await client.post(
        f"/v1/tickets/{t['id']}/assign", json={"owner_id": me["id"]}, headers=dispatcher
    )
    assert (
        r.status_code == 200
        and r.json()["owner_id"] == me["id"]
        and r.json()["status"] == "assigned"
    )
    listing = await client.get("/v1/tickets", params={"owner_id": me["id"]}, headers=admin)
    assert [i["id"] for i in listing.json()["items"]] == [t["id"]]
    engineer = await issue_key("engineer", world.branch_id)
    r = await client.post(
        f"/v1/tickets/{t['id']}/assign", json={"owner_id": me["id"]}, headers=engineer
    )
    assert r.status_code == 403
    _ = access_service


# --- concurrency: ETag / If-Match / idempotency ----------------------------------


async def test_if_match_on_actions_and_updates(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    etag = (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).headers["etag"]
    r = await client.post(
        f"/v1/tickets/{t['id']}/start", json={}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"priority": "P2"}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 412 and r.json()["current_etag"] == 'W/"2"'
    r = await client.post(
        f"/v1/tickets/{t['id']}/wait", json={"on": "vendor"}, headers={**admin, "If-Match": etag}
    )
    assert r.status_code == 412
    assert (await client.get(f"/v1/tickets/{t['id']}", headers=admin)).json()[
        "status"
    ] == "in_progress"
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"priority": "P2"}, headers={**admin, "If-Match": 'W/"2"'}
    )
    assert r.status_code == 200 and r.json()["priority"] == "P2"
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"priority": "P3"}, headers={**admin, "If-Match": "garbage"}
    )
    assert r.status_code == 400


async def test_idempotent_create_replays_and_creates_once(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    h = {**admin, "Idempotency-Key": "call-7781"}
    first = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    again = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len((await client.get("/v1/tickets", headers=admin)).json()["items"]) == 1
    r = await client.post("/v1/tickets", json=ticket_body(world, subject="另一个问题"), headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("/idempotency-key-reused")
    agent = await issue_key("agent")
    r = await client.post(
        "/v1/tickets", json=ticket_body(world), headers={**agent, "Idempotency-Key": "call-7781"}
    )
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_idempotency_key_in_flight_answers_409(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    """Hold the key's lock as a running request would, then retry."""
    from sqlalchemy import text

    from app.core.db import open_uow

    me = (await client.get("/v1/me", headers=admin)).json()
    async with open_uow() as uow:
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"{me['id']}:slow-1"},
        )
        r = await client.post(
            "/v1/tickets", json=ticket_body(world), headers={**admin, "Idempotency-Key": "slow-1"}
        )
        assert r.status_code == 409
        assert r.json()["type"].endswith("/idempotency-in-progress")
    r = await client.post(
        "/v1/tickets", json=ticket_body(world), headers={**admin, "Idempotency-Key": "slow-1"}
    )
    assert r.status_code == 201


async def test_failed_request_leaves_nothing_and_key_is_free(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    h = {**admin, "Idempotency-Key": "k-bad"}
    r = await client.post("/v1/tickets", json=ticket_body(world, category="nope"), headers=h)
    assert r.status_code == 422
    r = await client.post("/v1/tickets", json=ticket_body(world, category="nope"), headers=h)
    assert r.status_code == 422 and "idempotency" not in r.json()["type"]
    assert (await client.get("/v1/tickets", headers=admin)).json()["items"] == []


async def test_concurrent_actions_serialise(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    results = await asyncio.gather(
        *[
            client.post(f"/v1/tickets/{t['id']}/acknowledge", json={}, headers=admin)
            for _ in range(5)
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409, 409]


# --- updates ----------------------------------------------------------------------


async def test_update_records_before_after_and_rederives_priority(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"urgency": "low"}, headers=admin)
    assert r.status_code == 200 and r.json()["priority"] == "P3"
    events = await ticket_events(client, admin, t["id"])
    # The SLA clocks follow the new priority (tests/api/test_sla.py has the details).
    assert [e["type"] for e in events][-3:] == [
        "ticket.updated",
        "ticket.priority_changed",
        "sla.recomputed",
    ]
    assert events[-3]["before"] == {"urgency": "high", "priority": "P1"}
    assert events[-3]["after"] == {"urgency": "low", "priority": "P3"}
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"device_id": str(world.bare_device_id)}, headers=admin
    )
    assert r.status_code == 200 and r.json()["uncontracted"] is True
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"device_id": str(world.other_device_id)}, headers=admin
    )
    assert r.status_code == 422
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"subject": None}, headers=admin)
    assert r.status_code == 422
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"number": "T1"}, headers=admin)
    assert r.status_code == 422
    r = await client.patch(
        f"/v1/tickets/{t['id']}", json={"subject": "光模块故障 optical module"}, headers=admin
    )
    assert r.status_code == 200
    found = await client.get("/v1/tickets", params={"q": "光模块"}, headers=admin)
    assert [i["id"] for i in found.json()["items"]] == [t["id"]]


# --- listing ----------------------------------------------------------------------


async def test_list_filters_pagination_and_search(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    created = []
    for i in range(7):
        created.append(
            await create_ticket(
                client,
                admin,
                world,
                priority=["P1", "P2", "P3"][i % 3],
                channel=["phone", "email"][i % 2],
                subject=f"存储阵列降级 storage degraded #{i}"
                if i < 3
                else f"端口down port flapping #{i}",
            )
        )
    ids = [t["id"] for t in reversed(created)]
    seen = [i["id"] for i in await walk_pages(client, admin, "/v1/tickets", limit=3)]
    assert seen == ids
    r = await client.get(
        "/v1/tickets", params={"priority": "P1,P2", "channel": "phone"}, headers=admin
    )
    assert all(i["priority"] in ("P1", "P2") and i["channel"] == "phone" for i in r.json()["items"])
    assert len(r.json()["items"]) == len(
        [t for t in created if t["priority"] in ("P1", "P2") and t["channel"] == "phone"]
    )
    r = await client.get("/v1/tickets", params={"q": "阵列"}, headers=admin)
    assert len(r.json()["items"]) == 3
    r = await client.get("/v1/tickets", params={"q": "flap"}, headers=admin)
    assert len(r.json()["items"]) == 4
    r = await client.get("/v1/tickets", params={"q": "存储 port"}, headers=admin)
    assert r.json()["items"] == []
    r = await client.get(
        "/v1/tickets", params={"status": "new", "device_id": str(world.device_id)}, headers=admin
    )
    assert len(r.json()["items"]) == 7
    r = await client.get(
        "/v1/tickets", params={"customer_id": str(world.other_customer_id)}, headers=admin
    )
    assert r.json()["items"] == []
    r = await client.get(
        "/v1/tickets",
        params={"created_from": "2000-01-01T00:00:00Z", "created_to": "2001-01-01T00:00:00Z"},
        headers=admin,
    )
    assert r.json()["items"] == []
    by_number = await client.get(f"/v1/tickets/by-number/{created[0]['number']}", headers=admin)
    assert by_number.json()["id"] == created[0]["id"]


async def test_list_bad_params(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    for params in (
        {"status": "sleeping"},
        {"priority": "P9"},
        {"cursor": "!!!"},
        {"q": "!!!"},
        {"channel": "pigeon"},
    ):
        r = await client.get("/v1/tickets", params=params, headers=admin)
        assert r.status_code == 400, params
    for params in ({"limit": 0}, {"limit": "x"}, {"created_from": "yesterday"}):
        r = await client.get("/v1/tickets", params=params, headers=admin)
        assert r.status_code == 422, params
    r = await client.get("/v1/tickets", params={"limit": 100000}, headers=admin)
    assert r.status_code == 200


# --- work log ---------------------------------------------------------------------


async def test_comments_public_and_internal(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments", json={"body": "已联系客户"}, headers=admin
    )
    assert r.status_code == 201 and r.json()["visibility"] == "public"
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "内部备注", "visibility": "internal"},
        headers=admin,
    )
    assert r.status_code == 201
    assert (
        len((await client.get(f"/v1/tickets/{t['id']}/comments", headers=admin)).json()["items"])
        == 2
    )
    integ = await issue_key("integration")
    items = (await client.get(f"/v1/tickets/{t['id']}/comments", headers=integ)).json()["items"]
    assert [c["body"] for c in items] == ["已联系客户"]
    assert await _outbox_types(t["id"]) == ["ticket.created", "ticket.comment_added"]
    r = await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": ""}, headers=admin)
    assert r.status_code == 422


async def test_attempts_and_visits(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    t = await create_ticket(client, admin, world)
    engineer = await issue_key("engineer", world.branch_id)
    for outcome in ("failed", "failed", "partial"):
        r = await client.post(
            f"/v1/tickets/{t['id']}/attempts",
            json={
                "kind": "fix",
                "description": "重启主控板",
                "outcome": outcome,
                "minutes_spent": 20,
            },
            headers=engineer,
        )
        assert r.status_code == 201, r.text
    events = await ticket_events(client, admin, t["id"])
    assert events[-1]["data"]["failed_attempts"] == 2
    r = await client.post(
        f"/v1/tickets/{t['id']}/attempts",
        json={"kind": "fix", "description": "x", "outcome": "meh"},
        headers=engineer,
    )
    assert r.status_code == 422
    assert len((await client.get(f"/v1/tickets/{t['id']}/attempts", headers=admin)).json()) == 3
    r = await client.post(
        f"/v1/tickets/{t['id']}/visits",
        json={"arrived_at": "2026-03-02T10:05:00+08:00"},
        headers=engineer,
    )
    assert r.status_code == 201
    visit = r.json()
    r = await client.patch(
        f"/v1/tickets/{t['id']}/visits/{visit['id']}",
        json={"departed_at": "2026-03-02T09:00:00+08:00"},
        headers=engineer,
    )
    assert r.status_code == 422  # before arrival
    r = await client.patch(
        f"/v1/tickets/{t['id']}/visits/{visit['id']}",
        json={"departed_at": "2026-03-02T12:30:00+08:00"},
        headers={**engineer, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200 and r.json()["departed_at"]
    r = await client.patch(
        f"/v1/tickets/{t['id']}/visits/{visit['id']}",
        json={"notes": "x"},
        headers={**engineer, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 412
    visits = (await client.get(f"/v1/tickets/{t['id']}/visits", headers=admin)).json()
    assert len(visits) == 1 and visits[0]["departed_at"].startswith("2026-03-02T04:30")
    agent = await issue_key("agent")
    r = await client.post(
        f"/v1/tickets/{t['id']}/visits",
        json={"arrived_at": "2026-03-02T10:05:00+08:00"},
        headers=agent,
    )
    assert r.status_code == 403
    await client.post(f"/v1/tickets/{t['id']}/cancel", json={"reason": "dup"}, headers=admin)
    r = await client.post(
        f"/v1/tickets/{t['id']}/attempts",
        json={"kind": "diagnosis", "description": "x", "outcome": "failed"},
        headers=engineer,
    )
    assert r.status_code == 409


async def test_attachments_limits_and_download(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    from app.core.config import get_settings

    t = await create_ticket(client, admin, world)
    log = b"2026-03-02 08:40:01 PSU1 failure\n" * 10
    r = await client.post(
        f"/v1/tickets/{t['id']}/attachments",
        files={"file": ("../../etc/设备日志.txt", log, "text/plain")},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["filename"] == "设备日志.txt" and meta["size"] == len(log)
    r = await client.get(f"/v1/tickets/{t['id']}/attachments/{meta['id']}/content", headers=admin)
    assert r.status_code == 200 and r.content == log
    assert r.headers["content-disposition"].startswith("attachment;")
    settings = get_settings()
    big = b"x" * (settings.attachment_max_bytes + 1)
    r = await client.post(
        f"/v1/tickets/{t['id']}/attachments",
        files={"file": ("big.log", big, "text/plain")},
        headers=admin,
    )
    assert r.status_code == 413
    r = await client.post(
        f"/v1/tickets/{t['id']}/attachments",
        files={"file": ("x.html", b"<script>1</script>", "text/html")},
        headers=admin,
    )
    assert r.status_code == 415
    r = await client.post(f"/v1/tickets/{t['id']}/attachments", headers=admin)
    assert r.status_code == 422
    items = (await client.get(f"/v1/tickets/{t['id']}/attachments", headers=admin)).json()
    assert [a["id"] for a in items] == [meta["id"]]
    other = await issue_key("admin", world.other_branch_id)
    r = await client.get(f"/v1/tickets/{t['id']}/attachments/{meta['id']}/content", headers=other)
    assert r.status_code == 404


async def test_device_service_history(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    first = await create_ticket(client, admin, world)
    await create_ticket(client, admin, world, device_id=str(world.bare_device_id))
    second = await create_ticket(client, admin, world)
    r = await client.get(f"/v1/devices/{world.device_id}/tickets", headers=admin)
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [second["id"], first["id"]]
    other = await issue_key("engineer", world.other_branch_id)
    r = await client.get(f"/v1/devices/{world.device_id}/tickets", headers=other)
    assert r.status_code == 404
    r = await client.get(f"/v1/devices/{uuid.uuid4()}/tickets", headers=admin)
    assert r.status_code == 404


async def test_customer_wide_contract_covers_unlisted_devices_and_deviceless_tickets(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post(
        "/v1/contracts",
        json={
            "customer_id": str(world.customer_id),
            "number": "HT-WIDE-1",
            "service_level": "5x8",
            "starts_on": "2020-01-01",
            "ends_on": "2099-12-31",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    wide = r.json()["id"]
    t = await create_ticket(client, admin, world, device_id=str(world.bare_device_id))
    assert t["contract_id"] == wide and t["service_level"] == "5x8"
    t = await create_ticket(client, admin, world, device_id=None)
    assert t["contract_id"] == wide and t["uncontracted"] is False
    # A contract listing the device beats the customer-wide one.
    t = await create_ticket(client, admin, world)
    assert t["contract_id"] == str(world.contract_id)
