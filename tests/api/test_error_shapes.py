"""Errors as docs/api-guide.md documents them (issue 9, item 6): every 422 carries the
`errors` list, a conflict names its `field`, and a one-character Chinese query searches."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from app.core.db import open_uow
from tests.conftest import issue_key
from tests.factories import World, ticket_body

PROBLEM = "application/problem+json"


def _one_error(r: httpx.Response, loc: list[Any], field: str | None = None) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = r.json()
    errors = problem["errors"]
    assert isinstance(errors, list) and errors, problem
    assert loc in [e["loc"] for e in errors], problem
    for e in errors:
        assert set(e) == {"loc", "msg", "type"} and e["msg"] and e["type"], e
    if field is not None:
        assert problem["field"] == field  # kept for the clients that read it
    return problem


async def test_service_refusals_carry_the_errors_list(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post("/v1/tickets", json=ticket_body(world, category="toaster"), headers=admin)
    problem = _one_error(r, ["body", "category"], "category")
    assert problem["errors"][0]["msg"] == problem["detail"]
    r = await client.post(
        "/v1/tickets", json=ticket_body(world, impact=None, urgency=None), headers=admin
    )
    _one_error(r, ["body", "priority"])
    tid = (await client.post("/v1/tickets", json=ticket_body(world), headers=admin)).json()["id"]
    r = await client.patch(f"/v1/tickets/{tid}", json={"subject": None}, headers=admin)
    _one_error(r, ["body", "subject"], "subject")
    r = await client.patch(f"/v1/tickets/{tid}", json={"category": "toaster"}, headers=admin)
    _one_error(r, ["body", "category"], "category")
    manager = await issue_key("manager")
    r = await client.post(
        "/v1/incidents",
        json={"title": "核心交换机批量宕机", "product_family": "toaster"},
        headers=manager,
    )
    _one_error(r, ["body", "product_family"], "product_family")


async def test_a_reused_idempotency_key_names_the_header(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    h = {**admin, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post("/v1/tickets", json=ticket_body(world, subject="另一个"), headers=h)
    problem = _one_error(r, ["header", "Idempotency-Key"])
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["errors"][0]["type"] == "idempotency_key_reused"


async def test_a_conflict_names_its_field(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"code": f"c{uuid.uuid4().hex[:6]}", "name": "电源", "name_en": "Power"}
    assert (await client.post("/v1/categories", json=body, headers=admin)).status_code == 201
    r = await client.post("/v1/categories", json=body, headers=admin)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/conflict") and problem["field"] == "code"
    assert "constraint" not in problem


async def test_a_database_refusal_is_named_by_its_field(world: World) -> None:
    """The race the services cannot see (the handler of IntegrityError) names the same
    member as they do: the field of the duplicate key, or of the missing reference."""
    from app.catalogue.models import Category
    from app.core.errors import conflicting_field
    from app.devices.models import Device

    seen: list[str | None] = []
    for row in (
        Category(code="hardware", name="硬件", name_en="Hardware"),  # (code) exists
        Device(
            customer_id=world.customer_id,
            serial=f"SN{uuid.uuid4().hex[:6]}",
            model="S5720",
            product_family="no-such-family",
        ),
    ):
        with pytest.raises(IntegrityError) as caught:
            async with open_uow() as uow:
                uow.session.add(row)
                await uow.session.flush()
        seen.append(conflicting_field(caught.value.orig))
    assert seen == ["code", "product_family"]


async def _titled(client: httpx.AsyncClient, admin: dict[str, str], world: World, s: str) -> str:
    r = await client.post(
        "/v1/tickets", json=ticket_body(world, subject=s, description=""), headers=admin
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_single_chinese_character_searches(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    printer = await _titled(client, admin, world, "打印机卡纸")
    power = await _titled(client, admin, world, "更换电源")
    network = await _titled(client, admin, world, "网络中断 switch down")

    async def found(q: str) -> set[str]:
        r = await client.get("/v1/tickets", params={"q": q}, headers=admin)
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["items"]}

    assert await found("机") == {printer}  # inside a run
    assert await found("纸") == {printer}  # the last character of a run
    assert await found("源") == {power}
    assert await found("电") == {power}
    assert await found("断") == {network}
    assert await found("网") == {network}
    assert await found("鱼") == set()
    # Two characters still match as a word, not as two characters apart.
    assert await found("电源") == {power}
    assert await found("机纸") == set()
    r = await client.get("/v1/tickets", params={"q": "!!!"}, headers=admin)
    assert r.status_code == 400
