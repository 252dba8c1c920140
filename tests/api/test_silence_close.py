"""Closing on silence (DOMAIN 2) with a pinned clock: a resolved ticket whose reporter
neither confirms nor answers closes by itself N business days after the resolution
(across China's National Day and an adjusted working Saturday), recorded as
`closed_by_silence` on the timeline and in the outbox by the system; a reply by mail
before then (a comment and a reopen, as the mail-in does) beats it; the firing gives way
to a request that holds the ticket."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import httpx
import pytest

from app.access.defaults import SYSTEM_ID
from app.core.clock import FixedClock
from tests.api.callbackkit import (
    OVERDUE,
    SILENCE,
    Desk,
    act,
    callbacks_of,
    events_of,
    fire,
    make_desk,
    outbox,
    resolved_ticket,
    sh,
    timer,
)
from tests.conftest import issue_key
from tests.factories import World

RESOLVED = sh(2026, 9, 30, 15)  # Wednesday before the National Day holidays
SILENT_AT = sh(2026, 10, 10, 15)  # Oct 8, 9 and Saturday Oct 10 (worked) later


@pytest.fixture
def clock_start() -> datetime:
    return RESOLVED


@pytest.fixture
async def desk(client: httpx.AsyncClient, world: World) -> Desk:
    return await make_desk(client, world)


async def _status(client: httpx.AsyncClient, h: dict[str, str], tid: str) -> dict[str, str]:
    r = await client.get(f"/v1/tickets/{tid}", headers=h)
    assert r.status_code == 200, r.text
    return {k: r.json()[k] for k in ("status", "close_reason")}


async def test_a_silent_resolved_ticket_closes_after_n_business_days(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    assert (await timer(SILENCE, t["id"]))["due_at"] == SILENT_AT  # type: ignore[index]
    clock.set(sh(2026, 10, 10, 14, 59))
    assert await fire(SILENCE) == 0
    assert (await _status(client, admin, t["id"]))["status"] == "resolved"
    clock.set(SILENT_AT)
    assert await fire(SILENCE) == 1
    assert (await timer(SILENCE, t["id"]))["state"] == "fired"  # type: ignore[index]
    assert await _status(client, admin, t["id"]) == {"status": "closed",
                                                     "close_reason": "closed_by_silence"}  # fmt: skip
    [closed] = await events_of(client, admin, t["id"], "ticket.closed")
    assert closed["actor_id"] == str(SYSTEM_ID) and closed["actor_name"] == "Supportline"
    assert closed["data"]["close_reason"] == "closed_by_silence"
    assert "3 business days" in closed["data"]["note"]
    [message] = await outbox("ticket.closed", t["id"])
    assert message["data"]["close_reason"] == "closed_by_silence" and message["status"] == "closed"
    # The open callback ended with the resolution.
    [cb] = await callbacks_of(t["id"])
    assert cb["state"] == "cancelled"
    assert (await timer(OVERDUE, cb["id"]))["state"] == "cancelled"  # type: ignore[index]
    [cancelled] = await events_of(client, admin, t["id"], "callback.cancelled")
    assert cancelled["data"]["why"] == "ticket closed"
    assert await fire(SILENCE) == 0


async def test_a_reply_by_mail_before_then_beats_it(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    # What the mail-in does with the reporter's reply: a public comment, then a reopen.
    gateway = {**(await issue_key("integration")), "X-Channel": "email"}
    clock.set(sh(2026, 10, 9, 20))
    r = await client.post(f"/v1/tickets/{t['id']}/comments",
                          json={"body": "问题又出现了, 备用电源仍然告警"}, headers=gateway)  # fmt: skip
    assert r.status_code == 201, r.text
    await act(client, gateway, t["id"], "reopen", reason="客户邮件回复: 问题仍存在")
    assert (await timer(SILENCE, t["id"]))["state"] == "cancelled"  # type: ignore[index]
    [cb] = await callbacks_of(t["id"])
    assert cb["state"] == "cancelled"
    clock.set(SILENT_AT)
    assert await fire(SILENCE) == 0
    assert (await _status(client, admin, t["id"]))["status"] == "in_progress"
    # Resolved again, the silence counts from the new resolution.
    clock.set(sh(2026, 10, 12, 11))
    await act(client, desk.engineer, t["id"], "resolve", resolution_summary="更换备用电源")
    assert (await timer(SILENCE, t["id"]))["due_at"] == sh(2026, 10, 15, 11)  # type: ignore[index]
    clock.set(sh(2026, 10, 15, 11))
    assert await fire(SILENCE) == 1
    assert (await _status(client, admin, t["id"]))["close_reason"] == "closed_by_silence"


async def test_a_confirmation_before_then_beats_it(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    clock.set(sh(2026, 10, 8, 9))
    await act(client, desk.agent, t["id"], "confirm", contact_id=str(desk.world.contact_id))
    clock.set(SILENT_AT)
    assert await fire(SILENCE) == 0
    assert (await _status(client, admin, t["id"]))["close_reason"] == "confirmed_by_reporter"


async def test_the_firing_gives_way_to_a_request_holding_the_ticket(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock,
    db: asyncpg.Connection,
) -> None:  # fmt: skip
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    clock.set(SILENT_AT)
    # A request (say, a reopen by mail) holds the ticket's lock while the timer fires.
    async with db.transaction():
        await db.execute("SELECT 1 FROM tickets WHERE id = $1 FOR NO KEY UPDATE", t["id"])
        assert await fire(SILENCE) == 0
    left = await timer(SILENCE, t["id"])
    # Still pending, for a retry; a lock lost to a request does not count as a failure.
    assert left is not None and left["state"] == "pending" and left["attempts"] == 0
    assert (await _status(client, admin, t["id"]))["status"] == "resolved"
    async with db.transaction():  # the retry is due after its backoff
        await db.execute("UPDATE timers SET fire_at = due_at WHERE subject_id = $1", t["id"])
    assert await fire(SILENCE) == 1
    assert (await _status(client, admin, t["id"]))["close_reason"] == "closed_by_silence"
