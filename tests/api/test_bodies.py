"""Request bodies (issue 9, item 5): an operation whose body fields are all optional
takes a missing body as `{}`; a body that is not sent as JSON is a 415 that says what
the content type must be; multipart uploads keep working."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import create_ticket
from tests.factories import World, ticket_body

PROBLEM = "application/problem+json"


async def _ticket(client: httpx.AsyncClient, admin: dict[str, str], world: World) -> str:
    return str((await create_ticket(client, admin, world))["id"])


async def test_actions_with_only_optional_fields_take_no_body(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    tid = await _ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{tid}/acknowledge", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned"
    r = await client.post(f"/v1/tickets/{tid}/start", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    r = await client.post(f"/v1/tickets/{tid}/wait", json={"on": "customer"}, headers=admin)
    assert r.status_code == 200, r.text
    # An empty body with a JSON content type is no body either.
    r = await client.post(
        f"/v1/tickets/{tid}/resume",
        content=b"",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    # Each call made a fresh empty body: a later one does not see an earlier one's note.
    events = (await client.get(f"/v1/tickets/{tid}/events", headers=admin)).json()["items"]
    assert all((e.get("data") or {}).get("note") is None for e in events)


async def test_a_patch_without_a_body_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    tid = await _ticket(client, admin, world)
    before = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    r = await client.patch(f"/v1/tickets/{tid}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == before["subject"]


async def test_a_required_field_is_still_required_without_a_body(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    tid = await _ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{tid}/cancel", headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body"]
    r = await client.post("/v1/tickets", headers=admin)
    assert r.status_code == 422, r.text


async def test_the_spec_says_which_bodies_may_be_left_out(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    def required(path: str, method: str = "post") -> bool:
        return bool(paths[path][method]["requestBody"].get("required"))

    for action in ("acknowledge", "start", "resume", "confirm"):
        assert not required(f"/v1/tickets/{{ticket_id}}/{action}"), action
    for action in ("resolve", "cancel", "reopen", "wait", "assign"):
        assert required(f"/v1/tickets/{{ticket_id}}/{action}"), action
    assert not required("/v1/tickets/{ticket_id}", "patch")
    assert required("/v1/tickets")
    # A replacement (PUT) is always stated.
    assert required("/v1/escalation-policies/{service_level}", "put")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
async def test_a_body_that_is_not_sent_as_json_is_a_415(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, content_type: str | None
) -> None:
    headers: dict[str, Any] = dict(admin)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps(ticket_body(world)).encode()
    r = await client.post("/v1/tickets", content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["type"].endswith("/unsupported-media-type")
    assert "application/json" in problem["detail"]
    assert problem["allowed"] == ["application/json"]
    tid = await _ticket(client, admin, world)
    r = await client.post(
        f"/v1/tickets/{tid}/acknowledge", content=b'{"note": "x"}', headers=headers
    )
    assert r.status_code == 415, r.text
    listed = (await client.get("/v1/tickets", headers=admin)).json()["items"]
    assert len(listed) == 1  # only the ticket made as JSON


async def test_json_suffix_types_are_json(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    for ctype in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = await client.post(
            "/v1/tickets",
            content=json.dumps(ticket_body(world)).encode(),
            headers={**admin, "Content-Type": ctype},
        )
        assert r.status_code == 201, (ctype, r.text)


async def test_multipart_upload_keeps_working(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    tid = await _ticket(client, admin, world)
    r = await client.post(
        f"/v1/tickets/{tid}/attachments",
        files={"file": ("日志.txt", b"PSU1 failure\n", "text/plain")},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "日志.txt"
