"""Idempotency-Key and the unit of work around it (app/core/idempotency.py, app/core/db.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.factories import World, build_world, ticket_body


@pytest.fixture
async def world(app: Any) -> World:
    return await build_world()


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
