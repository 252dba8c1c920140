"""Fixtures of the API tests, and the HTTP helpers several of their modules share (each
defined here once; a module imports them from `tests.api.conftest`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.db import open_uow
from app.people.models import Engineer, EngineerSkill, Shift
from tests.conftest import issue_key
from tests.factories import World, build_world, ticket_body

PROBLEM = "application/problem+json"
EVIL_SQL = "'; DROP TABLE customers;--"
EVIL_HTML = "<script>alert(1)</script>"

# The last Wednesday, 10:00 in Shanghai: inside the 09:00-18:00 weekday shift of
# `engineer_on_shift`, and within the world's contract (valid from 30 days ago).
_today = datetime.now(UTC).date()
_wednesday = _today - timedelta(days=(_today.weekday() - 2) % 7 or 7)
WORKDAY_MORNING = datetime(_wednesday.year, _wednesday.month, _wednesday.day, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated(clean_db: None) -> None:
    """Every test here starts from, and leaves, an empty database."""


@pytest.fixture(autouse=True)
async def _ledger_consistent(_isolated: None) -> AsyncIterator[None]:
    """After every API test, before its rows are deleted: what `supportline stock-check`
    checks (each stock balance equal to its ledger, each serial where its last ledger row
    put it). Whatever a test did to stock, through any endpoint, leaves them equal."""
    yield
    from app.parts.service.check import stock_check

    async with open_uow() as uow:
        report = await stock_check(uow)
    assert report.ok, (report.differences, report.serials)


@pytest.fixture
async def world(app: Any) -> World:
    """A branch, customer, contact, device and contract to open tickets on."""
    return await build_world()


def problem(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The body of an RFC 9457 problem answered with `status`, naming `field` if given
    (as its `field` or in one of its `errors`)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    if field is not None:
        assert body.get("field") == field or any(
            field in e["loc"] for e in body.get("errors") or []
        ), body
    return body


async def key_id(client: httpx.AsyncClient, headers: dict[str, str]) -> uuid.UUID:
    """The id of the key that `headers` present (its identity)."""
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    return uuid.UUID(r.json()["id"])


async def new_key(
    client: httpx.AsyncClient, admin: dict[str, str], role: str = "engineer", **kw: Any
) -> str:
    """The id of a key issued over HTTP by `admin` (its secret is not kept)."""
    r = await client.post(
        "/v1/api-keys", json={"name": f"{role} {uuid.uuid4().hex[:6]}", "role": role, **kw},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def create_ticket(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **kw: Any
) -> dict[str, Any]:
    """A ticket opened over HTTP on `world` (`ticket_body` with `kw` over it)."""
    r = await client.post("/v1/tickets", json=ticket_body(world, **kw), headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def ticket_events(
    client: httpx.AsyncClient, headers: dict[str, str], tid: str
) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/tickets/{tid}/events", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def engineer_counts(engineer_id: uuid.UUID) -> tuple[int, int]:
    """An engineer's (open_tickets, open_load) as stored."""
    async with open_uow() as uow:
        row = (await uow.session.execute(
            text("SELECT open_tickets, open_load FROM engineers WHERE id = :i"),
            {"i": engineer_id},
        )).one()  # fmt: skip
    return int(row[0]), int(row[1])


async def make_branch(client: httpx.AsyncClient, admin: dict[str, str], code: str) -> str:
    r = await client.post(
        "/v1/branches", json={"code": code, "name": f"{code}分公司"}, headers=admin
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def make_customer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    branch_id: str,
    code: str = "C-001",
    **extra: Any,
) -> dict[str, Any]:
    body = {"branch_id": branch_id, "code": code, "name": f"客户{code}", **extra}
    r = await client.post("/v1/customers", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def branch_and_customer(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """Branch SH and its customer C-SH, made over HTTP."""
    sh = await make_branch(client, admin, "SH")
    return sh, await make_customer(client, admin, sh, "C-SH")


async def make_device(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    customer_id: str,
    serial: str = "2102351931P0K8000123",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "customer_id": customer_id,
        "serial": serial,
        "model": "S5735-L48T4X-A1",
        "product_family": "switch",
        **extra,
    }
    r = await client.post("/v1/devices", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def walk_pages(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, limit: int = 2, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list, `limit` a page, following `next_cursor` to the
    end; each page is a 200 of the one page shape, no longer than `limit`."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path}: no last page")


async def engineer_on_shift(
    client: httpx.AsyncClient,
    branch_id: uuid.UUID,
    *,
    name: str = "王磊",
    line: str = "l1",
    skills: tuple[tuple[str, str], ...] = (("product_family", "switch"),),
    max_load: int = 10,
    shift: tuple[time, time] | None = (time(9), time(18)),
    scope: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, dict[str, str]]:
    """An engineer (API key + profile + skills + a Monday-Friday shift), written through
    the ORM: its id and its key's headers."""
    headers = await issue_key("engineer", scope)
    eid = await key_id(client, headers)
    async with open_uow() as uow:
        uow.session.add(Engineer(id=eid, name=name, line=line, branch_id=branch_id,
                                 team_id=team_id, max_load=max_load))  # fmt: skip
        await uow.session.flush()
        for kind, code in skills:
            uow.session.add(EngineerSkill(engineer_id=eid, kind=kind, code=code, level=3))
        if shift is not None:
            for day in range(5):
                uow.session.add(Shift(engineer_id=eid, weekday=day, starts=shift[0], ends=shift[1]))
    return eid, headers


def engineer_body(api_key_id: str, branch_id: Any, **kw: Any) -> dict[str, Any]:
    return {"api_key_id": api_key_id, "name": "王磊", "name_en": "Wang Lei", "line": "l2",
            "branch_id": str(branch_id), **kw}  # fmt: skip


async def make_engineer(
    client: httpx.AsyncClient, admin: dict[str, str], branch_id: Any, **kw: Any
) -> dict[str, Any]:
    """An engineer profile made over HTTP, for a new engineer key."""
    api_key_id = await new_key(client, admin)
    r = await client.post(
        "/v1/engineers", json=engineer_body(api_key_id, branch_id, **kw), headers=admin
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def make_shift(
    client: httpx.AsyncClient, h: dict[str, str], engineer_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"/v1/engineers/{engineer_id}/shifts", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())
