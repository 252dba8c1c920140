"""Warranty decisions (保修判定) on pinned dates: in the manufacturer's warranty (its
bounds included), under a contract, both or neither; the default date is today in
Shanghai; another branch's device is a 404."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.core.errors import NotFound
from app.parts.service import warranty
from tests.api.conftest import problem
from tests.conftest import issue_key
from tests.factories import World

H = dict[str, str]
TODAY = date.today()


@pytest.fixture
def clock_start() -> datetime:
    # 23:30 UTC: already tomorrow in Shanghai (UTC+8).
    return datetime(TODAY.year, TODAY.month, TODAY.day, 23, 30, tzinfo=UTC)


async def _dates(client: httpx.AsyncClient, h: H, device_id: Any, start: date | None,
                 end: date | None) -> None:  # fmt: skip
    body = {"install_date": start.isoformat() if start else None,
            "warranty_end": end.isoformat() if end else None}  # fmt: skip
    r = await client.patch(f"/v1/devices/{device_id}", json=body, headers=h)
    assert r.status_code == 200, r.text


async def _decide(client: httpx.AsyncClient, h: H, device_id: Any, on: date) -> dict[str, Any]:
    r = await client.get(f"/v1/devices/{device_id}/warranty", params={"on": on.isoformat()},
                         headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert body["as_of"] == on.isoformat() and body["device_id"] == str(device_id)
    return body


async def test_warranty_and_contract_decide_the_basis(
    client: httpx.AsyncClient, admin: H, world: World
) -> None:
    # The world's contract covers `device_id` from 30 days ago to 335 days ahead.
    install, end = TODAY - timedelta(days=400), TODAY + timedelta(days=600)
    await _dates(client, admin, world.device_id, install, end)
    both = await _decide(client, admin, world.device_id, TODAY)
    assert both == {
        "as_of": TODAY.isoformat(), "device_id": str(world.device_id),
        "install_date": install.isoformat(), "warranty_end": end.isoformat(),
        "in_warranty": True, "under_contract": True, "contract_id": str(world.contract_id),
        "contract_number": both["contract_number"], "service_level": "7x24", "basis": "both",
    }  # fmt: skip
    assert both["contract_number"].startswith("HT-")
    # After the contract, still in warranty.
    later = await _decide(client, admin, world.device_id, TODAY + timedelta(days=400))
    assert later["basis"] == "warranty" and later["contract_id"] is None
    assert later["under_contract"] is False and later["service_level"] is None
    # Before the contract and within the warranty; before the installation: neither.
    assert (await _decide(client, admin, world.device_id, TODAY - timedelta(days=31)))[
        "basis"] == "warranty"  # fmt: skip
    before = await _decide(client, admin, world.device_id, install - timedelta(days=1))
    assert before["basis"] == "none" and before["in_warranty"] is False
    # The bounds are inside.
    assert (await _decide(client, admin, world.device_id, install))["in_warranty"] is True
    last = await _decide(client, admin, world.device_id, end)
    assert last["in_warranty"] is True and last["basis"] == "warranty"
    after = await _decide(client, admin, world.device_id, end + timedelta(days=1))
    assert after["in_warranty"] is False and after["basis"] == "none"
    # Warranty ended, contract on: contract only.
    await _dates(client, admin, world.device_id, install, TODAY - timedelta(days=1))
    assert (await _decide(client, admin, world.device_id, TODAY))["basis"] == "contract"
    # No warranty end recorded: never in warranty; no install date: the end alone decides.
    await _dates(client, admin, world.device_id, None, None)
    got = await _decide(client, admin, world.device_id, TODAY)
    assert got["basis"] == "contract" and got["in_warranty"] is False
    assert got["install_date"] is None and got["warranty_end"] is None
    await _dates(client, admin, world.bare_device_id, None, TODAY)
    got = await _decide(client, admin, world.bare_device_id, TODAY)
    assert got["basis"] == "warranty"  # the contract lists another device, not this one
    assert (await _decide(client, admin, world.bare_device_id, TODAY + timedelta(days=1)))[
        "basis"] == "none"  # fmt: skip
    # The service function other parts of the app call stores the same dict.
    async with open_uow() as uow:
        direct = await warranty.decide(uow, world.bare_device_id, TODAY)
        assert direct == got
        with pytest.raises(NotFound):
            await warranty.decide(uow, uuid.uuid4(), TODAY)
    assert warranty.none_decision(TODAY)["basis"] == "none"


async def test_the_default_date_scope_and_bad_input(
    client: httpx.AsyncClient, admin: H, world: World, clock: FixedClock
) -> None:
    shanghai_today = (clock.now() + timedelta(hours=8)).date()
    await _dates(client, admin, world.bare_device_id, TODAY, TODAY)
    r = await client.get(f"/v1/devices/{world.bare_device_id}/warranty", headers=admin)
    assert r.status_code == 200, r.text
    # It is tomorrow in Shanghai already: the one-day warranty is over there.
    assert r.json()["as_of"] == shanghai_today.isoformat() != TODAY.isoformat()
    assert r.json()["in_warranty"] is False
    own = await issue_key("engineer", world.branch_id)
    other = await issue_key("engineer", world.other_branch_id)
    url = f"/v1/devices/{world.bare_device_id}/warranty"
    assert (await client.get(url, headers=own)).status_code == 200
    problem(await client.get(url, headers=other), 404)
    problem(await client.get(f"/v1/devices/{uuid.uuid4()}/warranty", headers=admin), 404)
    assert (await client.get(url)).status_code == 401
    for on in ("yesterday", "2026-02-30", "2026-03-02T10:00:00", "\u0000", "9" * 50):
        r = await client.get(url, params={"on": on}, headers=admin)
        assert r.status_code == 422, (on, r.text)
    problem(await client.get("/v1/devices/not-a-uuid/warranty", headers=admin), 422)
