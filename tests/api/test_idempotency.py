"""Idempotency-Key and the unit of work around it (app/core/idempotency.py, app/core/db.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.factories import World, ticket_body


def _checked_out() -> int:
    from app.core.db import get_engine

    return int(get_engine().pool.checkedout())  # type: ignore[attr-defined]


async def test_a_failed_request_has_ended_its_transaction_when_its_response_arrives(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    # Checked synchronously, with no await between the response and the assertion: a
    # rollback left to run later (in a task of its own) cannot have finished by then.
    h = {**admin, "Idempotency-Key": "k-fail"}
    r = await client.post("/v1/tickets", json=ticket_body(world, category="nope"), headers=h)
    assert r.status_code == 422
    assert _checked_out() == 0
    # So the key is free for an immediate retry.
    r = await client.post("/v1/tickets", json=ticket_body(world, category="nope"), headers=h)
    assert r.status_code == 422 and "idempotency" not in r.json()["type"]
    assert _checked_out() == 0


async def test_open_uow_rolls_back_before_the_block_is_left(app: Any) -> None:
    from app.core.db import open_uow

    with pytest.raises(LookupError):
        async with open_uow() as uow:
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(4242)"))
            raise LookupError
    assert _checked_out() == 0
    async with open_uow() as uow:
        got = await uow.session.execute(text("SELECT pg_try_advisory_xact_lock(4242)"))
        assert got.scalar_one() is True


# -- "the same request" is the same content, not the same bytes -------------------------


def _json_bytes(body: dict[str, Any], *, reordered: bool = False, pretty: bool = False) -> bytes:
    import json

    items = list(body.items())
    if reordered:
        items.reverse()
    return json.dumps(dict(items), ensure_ascii=pretty, indent=2 if pretty else None).encode()


async def test_the_same_json_reordered_or_reformatted_replays_and_a_changed_value_does_not(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    h = {**admin, "Idempotency-Key": "k-canonical", "Content-Type": "application/json"}
    body = ticket_body(world)
    first = await client.post("/v1/tickets", content=_json_bytes(body), headers=h)
    assert first.status_code == 201, first.text
    for variant in (
        _json_bytes(body, reordered=True),
        _json_bytes(body, pretty=True),  # indented, and non-ASCII as \u escapes
        _json_bytes(body, reordered=True, pretty=True) + b"\n",
    ):
        r = await client.post("/v1/tickets", content=variant, headers=h)
        assert r.status_code == 201, r.text
        assert r.headers.get("idempotent-replayed") == "true"
        assert r.json() == first.json()
    changed = _json_bytes({**body, "subject": body["subject"] + "!"}, reordered=True)
    r = await client.post("/v1/tickets", content=changed, headers=h)
    assert r.status_code == 422
    assert r.json()["type"].endswith("idempotency-key-reused")
    assert await _count_tickets() == 1


async def test_the_same_json_on_another_path_is_another_request(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    h = {**admin, "Idempotency-Key": "k-path"}
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/customers", json={"branch_id": str(world.branch_id), "name": "x"}, headers=h
    )
    assert r.status_code == 422
    assert r.json()["type"].endswith("idempotency-key-reused")


async def test_a_multipart_upload_is_compared_by_its_fields_not_its_boundary(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
    assert r.status_code == 201, r.text
    url = f"/v1/tickets/{r.json()['id']}/attachments"
    log = b"2026-03-02 08:40:01 PSU1 failure\n" * 10

    def upload(boundary: str, content: bytes = log) -> bytes:
        return (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="psu.log"\r\n'
                "Content-Type: text/plain\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )

    def headers(boundary: str) -> dict[str, str]:
        return {
            **admin,
            "Idempotency-Key": "k-upload",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }

    first = await client.post(url, content=upload("aaaa1111"), headers=headers("aaaa1111"))
    assert first.status_code == 201, first.text
    again = await client.post(url, content=upload("bbbb2222"), headers=headers("bbbb2222"))
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    other = await client.post(
        url, content=upload("cccc3333", log + b"x"), headers=headers("cccc3333")
    )
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")
    listed = await client.get(url, headers=admin)
    assert len(listed.json()) == 1


async def _count_tickets() -> int:
    from app.core.db import open_uow

    async with open_uow() as uow:
        return int((await uow.session.execute(text("SELECT count(*) FROM tickets"))).scalar_one())
