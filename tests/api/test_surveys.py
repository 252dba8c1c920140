"""Satisfaction surveys (满意度调查) through the public API: the link of a resolution (what
the resolution mail carries) shows only the ticket's number and subject, takes one
rating and comment (a second answer is refused, also when two arrive at once), records
the answer on the ticket's timeline and in the outbox; a forged, altered, re-signed or
expired link is refused as problem+json."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.callbacks.interface import survey_link
from app.core.clock import FixedClock
from app.core.db import open_uow
from tests.api.callbackkit import Desk, act, events_of, make_desk, outbox, resolved_ticket, rows, sh
from tests.api.conftest import problem
from tests.factories import World

RESOLVED = sh(2026, 3, 4, 15)  # a Wednesday


@pytest.fixture
def clock_start() -> datetime:
    return RESOLVED


@pytest.fixture
async def desk(client: httpx.AsyncClient, world: World) -> Desk:
    return await make_desk(client, world)


async def _link(ticket_id: str) -> str | None:
    import uuid

    async with open_uow() as uow:
        return await survey_link(uow, uuid.UUID(ticket_id))


def _token(link: str) -> str:
    assert link.startswith("http://127.0.0.1:8000/v1/surveys/"), link
    return link.rsplit("/", 1)[1]


async def _resolved_with_link(client: httpx.AsyncClient, desk: Desk,
                              clock: FixedClock) -> tuple[dict[str, Any], str]:  # fmt: skip
    t = await resolved_ticket(client, desk, clock, RESOLVED)
    link = await _link(t["id"])
    assert link is not None
    return t, _token(link)


async def test_the_link_is_used_once_and_the_answer_recorded(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, token = await _resolved_with_link(client, desk, clock)
    # No key: the token is the credential, and it shows the number and subject only.
    r = await client.get(f"/v1/surveys/{token}")
    assert r.status_code == 200, r.text
    assert r.json() == {"ticket_number": t["number"], "subject": t["subject"], "state": "open",
                        "expires_at": "2026-03-18T07:00:00Z"}  # fmt: skip
    assert r.headers["cache-control"] == "no-store"

    clock.set(sh(2026, 3, 5, 9))
    r = await client.post(f"/v1/surveys/{token}", json={"rating": 4, "comment": "响应及时"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "answered"
    [row] = await rows("SELECT rating, comment, answered_at FROM surveys WHERE ticket_id = :t",
                       t=t["id"])  # fmt: skip
    assert row == {"rating": 4, "comment": "响应及时", "answered_at": sh(2026, 3, 5, 9)}
    [event] = await events_of(client, admin, t["id"], "survey.answered")
    assert event["data"]["rating"] == 4 and event["data"]["comment"] == "响应及时"
    assert event["channel"] == "web" and event["actor_name"] == "满意度调查 (survey)"
    [message] = await outbox("survey.answered", t["id"])
    assert message["data"]["rating"] == 4 and message["branch_id"] == str(desk.world.branch_id)

    # Once only: a second answer is a conflict, and changes nothing.
    again = problem(await client.post(f"/v1/surveys/{token}", json={"rating": 1}), 409)
    assert again["type"].endswith("/survey-answered")
    assert (await client.get(f"/v1/surveys/{token}")).json()["state"] == "answered"
    assert (await rows("SELECT rating FROM surveys WHERE ticket_id = :t", t=t["id"]))[0][
        "rating"
    ] == 4
    assert len(await events_of(client, admin, t["id"], "survey.answered")) == 1
    # An answered survey is no longer offered to the mail.
    assert await _link(t["id"]) is None


async def test_two_answers_at_once_are_one_answer(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, token = await _resolved_with_link(client, desk, clock)
    answers = await asyncio.gather(
        *(client.post(f"/v1/surveys/{token}", json={"rating": n}) for n in (5, 2, 3))
    )
    assert sorted(r.status_code for r in answers) == [200, 409, 409], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200)
    [row] = await rows("SELECT rating FROM surveys WHERE ticket_id = :t", t=t["id"])
    assert row["rating"] == json.loads(winner.request.content)["rating"]
    assert len(await events_of(client, admin, t["id"], "survey.answered")) == 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_forged_and_altered_links_are_refused(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, token = await _resolved_with_link(client, desk, clock)
    head, mac = token.split(".")
    payload = _unb64(head)
    other, _ = await _resolved_with_link(client, desk, clock)
    other_head = _token(await _link(other["id"]) or "").split(".")[0]
    later = payload[:16] + (int.from_bytes(payload[16:], "big") + 86400 * 365).to_bytes(8, "big")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    forged = [
        "x",
        "not-a-token",
        f"{head}.",
        f".{mac}",
        f"{head}.{flipped}",  # the signature altered
        f"{other_head}.{mac}",  # another survey's id under this signature
        f"{_b64(later)}.{mac}",  # a longer validity
        f"{head}={'.'}{mac}",
        f"{head}.{mac}.{mac}",
        f"{head}.{mac}x",
        "A" * 500,
    ]
    for bad in forged:
        for r in (await client.get(f"/v1/surveys/{bad}"),
                  await client.post(f"/v1/surveys/{bad}", json={"rating": 5})):  # fmt: skip
            body = problem(r, 404)
            assert body["type"].endswith("/survey-link-invalid"), (bad, body)
            assert t["number"] not in r.text and t["subject"] not in r.text
    # A link signed with another secret (another installation's, or before a change).
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "survey_secret", "another installation's secret")
    foreign = _token(await _link(t["id"]) or "")
    monkeypatch.setattr(get_settings(), "survey_secret", None)
    problem(await client.get(f"/v1/surveys/{foreign}"), 404)
    assert (await client.get(f"/v1/surveys/{token}")).status_code == 200
    assert (await rows("SELECT count(*) AS n FROM surveys WHERE answered_at IS NOT NULL"))[0][
        "n"
    ] == 0


async def test_an_expired_link_shows_its_state_and_takes_no_answer(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    t, token = await _resolved_with_link(client, desk, clock)
    clock.set(sh(2026, 3, 18, 14, 59, 59))  # valid 14 days
    assert (await client.get(f"/v1/surveys/{token}")).json()["state"] == "open"
    clock.set(sh(2026, 3, 18, 15))
    r = await client.get(f"/v1/surveys/{token}")
    assert r.status_code == 200 and r.json()["state"] == "expired"
    gone = problem(await client.post(f"/v1/surveys/{token}", json={"rating": 5}), 410)
    assert gone["type"].endswith("/survey-expired")
    assert await _link(t["id"]) is None  # not offered any more


async def test_answers_are_checked(
    client: httpx.AsyncClient, desk: Desk, clock: FixedClock
) -> None:
    _, token = await _resolved_with_link(client, desk, clock)
    for body in ({"rating": 0}, {"rating": 6}, {"rating": "five"}, {"comment": "好"},
                 {"rating": 5, "comment": "a\u0000b"}, {"rating": 5, "comment": "x" * 4001},
                 {"rating": 5, "name": "王伟"}, {"rating": 4.5}):  # fmt: skip
        problem(await client.post(f"/v1/surveys/{token}", json=body), 422)
    assert (await client.get(f"/v1/surveys/{token}")).json()["state"] == "open"
    r = await client.post(f"/v1/surveys/{token}", json={"rating": 5})  # the comment is optional
    assert r.status_code == 200, r.text


async def test_each_resolution_has_its_own_survey(
    client: httpx.AsyncClient, admin: dict[str, str], desk: Desk, clock: FixedClock
) -> None:
    t, first = await _resolved_with_link(client, desk, clock)
    clock.set(sh(2026, 3, 5, 10))
    await act(client, desk.agent, t["id"], "reopen", reason="客户反馈仍有告警")
    assert await _link(t["id"]) is None  # reopened: no resolution to ask about
    # The first resolution's survey stays answerable (how it went is still worth hearing).
    assert (await client.get(f"/v1/surveys/{first}")).json()["state"] == "open"
    clock.set(sh(2026, 3, 6, 11))
    await act(client, desk.engineer, t["id"], "resolve", resolution_summary="更换背板")
    second = _token(await _link(t["id"]) or "")
    assert second != first
    await act(client, desk.agent, t["id"], "confirm")
    assert await _link(t["id"]) is not None  # closed, the survey can still be answered
    r = await client.post(f"/v1/surveys/{second}", json={"rating": 5, "comment": "满意"})
    assert r.status_code == 200, r.text
    answered = await events_of(client, admin, t["id"], "survey.answered")
    assert [e["data"]["resolution_no"] for e in answered] == [1]


async def test_production_refuses_to_sign_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    from app.callbacks.service import tokens
    from app.core.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "survey_secret", None)
    monkeypatch.setattr(settings, "env", "production")
    with pytest.raises(RuntimeError, match="SURVEY_SECRET"):
        tokens.sign(uuid.uuid4(), datetime.now(UTC) + timedelta(days=1))
    monkeypatch.setattr(settings, "survey_secret", "s3cret-of-production")
    token = tokens.sign(survey := uuid.uuid4(), at := datetime(2026, 3, 18, 7, tzinfo=UTC))
    assert tokens.verify(token) == (survey, at)


def test_production_settings_refuse_to_load_without_a_survey_secret() -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    with pytest.raises(ValidationError, match="SURVEY_SECRET is required"):
        Settings(env="production", survey_secret=None)
    assert Settings(env="production", survey_secret="s3cret").survey_secret == "s3cret"
    assert Settings(env="development", survey_secret=None).survey_secret is None
