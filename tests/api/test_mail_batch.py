"""The mail consumer over a whole drain batch (issue 12, item 10's design): a batch plans
what the same messages consumed one by one would (the caps and the flood rule count
the batch's own earlier mails), and a message that cannot be planned costs only itself
a retry: the rest of its batch is written, once.

Events are made through the API and drained through `app.outbox.drain` with the mail
consumer registered, as the worker does (fixtures from test_mail_notices)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import open_uow
from app.mail.service import planning
from app.outbox.drain import drain_once
from tests.api import test_mail_notices as notices
from tests.api.test_mail_notices import People, _ticket, deliveries, drain
from tests.factories import World

# The notices tests' fixtures, asked for by name below.
clock_start, mail, people, settings = (
    notices.clock_start,
    notices.mail,
    notices.people,
    notices.settings,
)


async def _comment(client: httpx.AsyncClient, h: dict[str, str], tid: str, body: str) -> None:
    r = await client.post(f"/v1/tickets/{tid}/comments",
                          json={"body": body, "visibility": "public"}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text


async def _flood(client: httpx.AsyncClient, h: dict[str, str], world: World) -> dict[str, str]:
    """The events of test_caps_merge_a_floods_overflow_into_one_digest: a ticket A with
    two comments and a ticket B with one, all mailed to the same reporter."""
    a = await _ticket(client, h, world)
    await _comment(client, h, a["id"], "第一次回复")
    await _comment(client, h, a["id"], "第二次回复")
    b = await _ticket(client, h, world)
    await _comment(client, h, b["id"], "B 的回复")
    return {a["id"]: "A", b["id"]: "B"}


async def _outcome(names: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """The reporter's deliveries of these tickets in the drain's order of their events."""
    async with open_uow() as uow:
        rows = (await uow.session.execute(text(
            "SELECT d.ticket_id::text, d.event_type, d.state, coalesce(d.reason, '')"
            " FROM email_deliveries d JOIN outbox o ON o.id = d.outbox_id"
            " WHERE d.address = 'wang@example.cn' AND d.ticket_id::text = ANY(:t)"
            " ORDER BY o.available_at, o.id"), {"t": list(names)})).all()  # fmt: skip
    return [(names[r[0]], r[1], r[2], r[3].split(":")[0]) for r in rows]


async def test_one_batch_plans_what_one_message_at_a_time_would(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(settings, "mail_cap_per_ticket", 2)
    monkeypatch.setattr(settings, "mail_cap_total", 3)
    monkeypatch.setattr(settings, "mail_cap_window_minutes", 10)
    one_by_one = await _flood(client, admin, world)
    while await drain_once(1):  # a batch of one message each
        pass
    expected = await _outcome(one_by_one)
    # The caps bit (the test means something): two of the five mails merged.
    assert sorted(state for _, _, state, _ in expected) == ["digested"] * 2 + ["queued"] * 3
    assert {why for *_, why in expected} == {"", "cap_per_ticket", "cap_total"}

    mail.set(mail.now() + timedelta(minutes=11))  # a new cap window
    batched = await _flood(client, admin, world)
    assert await drain_once(200) == 5  # all in one batch
    assert await _outcome(batched) == expected


async def test_a_message_that_cannot_be_planned_is_retried_alone(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, people: People,
    mail: FixedClock, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    good = await _ticket(client, admin, world)
    bad = await _ticket(client, admin, world)
    also = await _ticket(client, admin, world)
    render = planning._rendered
    broken = {uuid.UUID(bad["id"])}

    async def rendered(uow: Any, ctx: Any, *args: Any) -> Any:
        if ctx.ticket is not None and ctx.ticket.id in broken:
            raise RuntimeError("template failed")
        return await render(uow, ctx, *args)

    monkeypatch.setattr(planning, "_rendered", rendered)
    await drain()
    got = {str(d["ticket_id"]) for d in await deliveries(address="wang@example.cn")}
    assert got == {good["id"], also["id"]}
    outbox = await deliveries_of_outbox(bad["id"])
    assert outbox["status"] == "pending" and outbox["attempts"] == 1
    assert "RuntimeError: template failed" in outbox["last_error"]

    broken.clear()
    mail.set(mail.now() + timedelta(hours=1))  # past the backoff
    await drain()
    rows = await deliveries(address="wang@example.cn")
    assert sorted(str(d["ticket_id"]) for d in rows) == sorted([good["id"], bad["id"], also["id"]])
    assert len({d["message_id"] for d in rows}) == 3  # each exactly once


async def deliveries_of_outbox(ticket_id: str) -> dict[str, Any]:
    """The ticket.created outbox row of a ticket."""
    async with open_uow() as uow:
        row = (await uow.session.execute(text(
            "SELECT status, attempts, last_error FROM outbox WHERE aggregate_id = :t"
            " AND event_type = 'ticket.created'"), {"t": uuid.UUID(ticket_id)})).mappings().one()  # fmt: skip
        return dict(row)
