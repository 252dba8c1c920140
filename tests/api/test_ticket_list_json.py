"""The ticket list's page must be byte for byte what orjson writes from the rows read
as Python values (`core.pagination.page_json` over a plain SELECT, with allowed actions
computed per row): the list reads ids as text and computes the allowed actions once per
status, and this checks both, for texts that need escaping, timestamps with and without
a fraction, nulls, and every kind of allowed actions (a closed ticket inside and outside
the reopen window, a cancelled one, open ones)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import open_uow
from app.core.pagination import page_json
from app.tickets import lifecycle
from app.tickets.repository import SUMMARY_COLUMNS
from tests.factories import World, ticket_body

SUBJECTS = [
    '引号 "quoted" \\ back\\slash / slash',
    "controls \t\n\r\b\f\x01\x1f end",
    "中文 emoji 🚀 \u2028 \ufeff",
]


async def _expected(limit: int, after: str | None = None) -> bytes:
    now = get_clock().now()
    window = timedelta(days=get_settings().reopen_window_days)
    async with open_uow() as uow:
        conn = await uow.connection()
        where = "" if after is None else "WHERE id < $2::uuid"
        args: list[Any] = [limit + 1] + ([] if after is None else [after])
        rows = [
            dict(r)
            for r in await conn.fetch(
                f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM tickets {where} "
                "ORDER BY id DESC LIMIT $1",
                *args,
            )
        ]
    for row in rows:
        row["allowed_actions"] = lifecycle.allowed_actions(
            row["status"], row["closed_at"], now, window
        )
    return page_json(rows, limit)


async def test_page_bytes_are_what_orjson_writes(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    ids = []
    for i in range(len(SUBJECTS)):
        body = ticket_body(world, subject=f"subject {i}", external_ref=f"ref-{i}")
        if i == 1:
            body.update(device_id=None, contact_id=None, fault_started_at=None)
        r = await client.post("/v1/tickets", json=body, headers=admin)
        assert r.status_code == 201, r.text
        ids.append(uuid.UUID(r.json()["id"]))
    async with open_uow() as uow:
        # Subjects that need escaping, written in the table: the API refuses control
        # characters in a new subject, but rows stored before that rule still hold them.
        for ticket_id, subject in zip(ids, SUBJECTS, strict=True):
            await uow.session.execute(
                text("UPDATE tickets SET subject = :s WHERE id = :id"),
                {"s": subject, "id": ticket_id},
            )
        # One closed inside the reopen window, one outside it (with a whole-second
        # closing time), one cancelled.
        await uow.session.execute(
            text(
                "UPDATE tickets SET status = 'closed', closed_at = now() - interval '1 hour'"
                " WHERE id = :a; "
            ),
            {"a": ids[0]},
        )
        await uow.session.execute(
            text(
                "UPDATE tickets SET status = 'closed', "
                "closed_at = date_trunc('second', now()) - interval '400 days' WHERE id = :b"
            ),
            {"b": ids[1]},
        )
        await uow.session.execute(
            text("UPDATE tickets SET status = 'cancelled', cancelled_at = now() WHERE id = :c"),
            {"c": ids[2]},
        )
    for _ in range(2):
        r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
        assert r.status_code == 201, r.text

    whole = await client.get("/v1/tickets", params={"limit": 10}, headers=admin)
    assert whole.status_code == 200, whole.text
    assert whole.content == await _expected(10)
    first = await client.get("/v1/tickets", params={"limit": 2}, headers=admin)
    assert first.content == await _expected(2)
    cursor = first.json()["next_cursor"]
    second = await client.get("/v1/tickets", params={"limit": 2, "cursor": cursor}, headers=admin)
    last_id = first.json()["items"][-1]["id"]
    assert second.content == await _expected(2, last_id)
