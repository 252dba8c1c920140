"""If-None-Match on every read that sends an ETag (app/core/etag.py): 304 with the ETag
and no body when it matches (the tag itself, weakly; one of a list; `*`), 200 otherwise;
and the spec declares the 304 on exactly those operations.

The reads are found from the app's routers, not listed by hand, and called on the demo
data (which has a record of every kind), so a new read is checked the day it is added:
a path parameter this module has no value for fails its test and says so."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute

from app.main import ROUTERS

READS = sorted(
    (route for router in ROUTERS for route in router.routes
     if isinstance(route, APIRoute) and "GET" in route.methods),
    key=lambda r: r.path,
)  # fmt: skip

# A value for each path parameter: the first row of this query (over the demo data).
_PARAMS = {
    "branch_id": "SELECT id FROM branches ORDER BY code",
    "calendar_id": "SELECT id FROM calendars ORDER BY code",
    "customer_id": "SELECT customer_id FROM contacts ORDER BY id",
    "contact_id": "SELECT id FROM contacts ORDER BY id",
    "contract_id": "SELECT contract_id FROM contract_devices ORDER BY contract_id",
    "device_id": "SELECT device_id FROM tickets WHERE device_id IS NOT NULL ORDER BY id",
    "team_id": "SELECT team_id FROM oncall_rotations ORDER BY id",
    "engineer_id": "SELECT id FROM engineers ORDER BY id",
    "rotation_id": "SELECT id FROM oncall_rotations ORDER BY id",
    "ticket_id": "SELECT ticket_id FROM attachments ORDER BY id",
    "attachment_id": "SELECT id FROM attachments ORDER BY id",
    "number": "SELECT number FROM tickets ORDER BY id",
    "incident_id": "SELECT id FROM major_incidents ORDER BY id",
    "service_level": "SELECT service_level FROM sla_policies ORDER BY service_level",
    "message_id": "SELECT id FROM outbox ORDER BY id",
    "timer_id": "SELECT id FROM timers ORDER BY id",
    "warehouse_id": "SELECT id FROM warehouses ORDER BY code",
    "part_id": "SELECT part_id FROM stock_balances ORDER BY part_id",
    "request_id": "SELECT id FROM part_requests ORDER BY id",
    "rma_id": "SELECT id FROM rmas ORDER BY id",
    "loan_id": "SELECT id FROM loans ORDER BY id",
    "serial_id": "SELECT id FROM part_serials ORDER BY id",
    "transfer_id": "SELECT id FROM stock_transfers ORDER BY id",
    "event_type": "SELECT event_type FROM notification_rules ORDER BY event_type",
    "callback_id": "SELECT id FROM callbacks ORDER BY id",
    "plan_id": "SELECT id FROM contact_plans ORDER BY id",
    "delivery_id": "SELECT id FROM email_deliveries ORDER BY id",
    "source_id": "SELECT id FROM hook_sources ORDER BY id",
    "subscription_id": "SELECT id FROM webhook_subscriptions ORDER BY id",
    # A survey link's token is signed: the survey's id here, its token made below.
    "token": "SELECT id FROM surveys ORDER BY id",
}
# `{code}` means another table on each path.
_CODES = {
    "/v1/categories/{code}": "SELECT code FROM categories ORDER BY code",
    "/v1/product-families/{code}": "SELECT code FROM product_families ORDER BY code",
    "/v1/service-levels/{code}": "SELECT code FROM service_levels ORDER BY code",
    "/v1/calendars/by-code/{code}": "SELECT code FROM calendars ORDER BY code",
}
# `{delivery_id}` of webhooks (mail's is `_PARAMS`'s).
_WEBHOOK_DELIVERY = "SELECT id FROM webhook_deliveries ORDER BY id"
# Required query parameters.
_QUERIES = {
    "/v1/calendars/{calendar_id}/preview": {
        "start": "2026-03-02T09:00:00+08:00",
        "duration": "14400",
    },
    "/v1/reports/parts/movements": {
        "since": "2026-03-01T00:00:00+08:00",
        "until": "2026-04-01T00:00:00+08:00",
    },
    "/v1/reports/parts/usage": {
        "since": "2026-03-01T00:00:00+08:00",
        "until": "2026-04-01T00:00:00+08:00",
    },
    "/v1/serials": {"serial": "2102351931P0K8000123"},
}


@dataclass
class Loaded:
    admin: dict[str, str]
    values: dict[str, str]


@pytest.fixture(autouse=True)
def _isolated() -> None:
    """Replaces tests/api's cleaning after each test: this module's tests only read, so
    they share one demo load (`loaded`), which leaves an empty database behind."""


@pytest.fixture(scope="module")
async def loaded(
    app: Any, services: dict[str, str], _tables: list[str], tmp_path_factory: Any
) -> AsyncIterator[Loaded]:
    from app.demo import keys_path, load_demo

    before = os.environ.get("DATA_DIR")
    os.environ["DATA_DIR"] = str(tmp_path_factory.mktemp("demo"))
    _settings_changed()
    try:
        assert await load_demo() == 0
        key = next(
            line.split()[1]
            for line in Path(keys_path()).read_text(encoding="utf-8").splitlines()
            if line.startswith("admin ")
        )
        admin = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ticket = (await client.get("/v1/tickets", headers=admin)).json()["items"][0]
            r = await client.post(
                f"/v1/tickets/{ticket['id']}/attachments",
                files={"file": ("psu.log", b"PSU1 failure\n", "text/plain")},
                headers=admin,
            )
            assert r.status_code == 201, r.text
        # What a worker does next: the e-mail consumer writes the demo's deliveries.
        from app.outbox.dispatcher import Dispatcher, load_configured_consumers
        from app.outbox.drain import drain_once

        dispatcher = Dispatcher()
        load_configured_consumers(into=dispatcher)
        while await drain_once(500, dispatcher):
            pass
        conn = await asyncpg.connect(_dsn(services["database_url"]))
        try:
            values = {}
            for name, sql in {**_PARAMS, **_CODES, "webhook_delivery": _WEBHOOK_DELIVERY}.items():
                value = await conn.fetchval(sql + " LIMIT 1")
                assert value is not None, f"the demo data has no row for {name}: {sql}"
                values[name] = str(value)
            values["token"] = await _survey_token(values["token"])
        finally:
            await conn.close()
        yield Loaded(admin=admin, values=values)
    finally:
        if before is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = before
        _settings_changed()
        await _empty(services["database_url"], _tables)


async def _survey_token(survey_id: str) -> str:
    from app.callbacks.models import Survey
    from app.callbacks.service import tokens
    from app.core.db import open_uow

    async with open_uow() as uow:
        survey = await uow.session.get(Survey, uuid.UUID(survey_id))
        assert survey is not None
        return tokens.sign(survey.id, survey.expires_at)


def _settings_changed() -> None:
    from app.core.config import get_settings

    get_settings.cache_clear()


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _empty(url: str, tables: list[str]) -> None:
    """What tests/conftest.py's clean_db does after a test."""
    conn = await asyncpg.connect(_dsn(url))
    # DELETE under the replica role, as clean_db does: the stock ledger refuses TRUNCATE
    # (its append-only trigger), and the replica role skips triggers and foreign keys.
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(";".join(f'DELETE FROM "{t}"' for t in tables))
    await conn.close()
    from app.access import service as access_service
    from app.core.db import open_uow
    from app.defaults import ensure_defaults

    async with open_uow() as uow:
        await ensure_defaults(uow)
    access_service.clear_cache()


def _url(route: APIRoute, values: dict[str, str]) -> str:
    path = route.path
    for param in route.dependant.path_params:
        key = route.path if param.name == "code" else param.name
        if param.name == "delivery_id" and route.path.startswith("/v1/webhooks/"):
            key = "webhook_delivery"
        assert key in values, (
            f"{route.path}: no value for the path parameter {{{param.name}}}; add a query "
            "for it to _PARAMS (or _CODES) in this module"
        )
        path = path.replace(f"{{{param.name}}}", values[key])
    return path


def _declares_304(app: Any, route: APIRoute) -> bool:
    op = app.openapi()["paths"][route.path]["get"]
    return "304" in op["responses"]


@pytest.mark.parametrize("route", READS, ids=[r.operation_id or r.path for r in READS])
async def test_a_read_with_an_etag_answers_304_to_if_none_match(
    app: Any, client: httpx.AsyncClient, loaded: Loaded, route: APIRoute
) -> None:
    url = _url(route, loaded.values)
    params = _QUERIES.get(route.path, {})
    h = loaded.admin
    r = await client.get(url, params=params, headers=h)
    assert r.status_code == 200, r.text
    etag = r.headers.get("etag")
    if etag is None:
        # No ETag, nothing to compare: the read answers in full, and the spec says so.
        assert not _declares_304(app, route), f"{route.path} declares 304 but sends no ETag"
        r = await client.get(url, params=params, headers={**h, "If-None-Match": "*"})
        assert r.status_code == 200
        return
    assert _declares_304(app, route), f"{route.path} sends an ETag: declare NOT_MODIFIED"
    assert etag.startswith('W/"')
    strong = etag.removeprefix("W/")
    for if_none_match in (
        etag,
        strong,  # weak comparison: W/ does not matter
        f'W/"999999", {etag}',  # one of a list
        f'"x",{strong} , W/"y"',
        "*",
    ):
        r = await client.get(url, params=params, headers={**h, "If-None-Match": if_none_match})
        assert r.status_code == 304, (if_none_match, r.status_code, r.text)
        assert r.headers["etag"] == etag
        assert r.content == b""
        assert "content-type" not in r.headers
        assert r.headers.get("x-request-id")
    for if_none_match in ('W/"999999"', '"999999", W/"0"', "not-a-tag"):
        r = await client.get(url, params=params, headers={**h, "If-None-Match": if_none_match})
        assert r.status_code == 200, (if_none_match, r.text)
        assert r.headers["etag"] == etag and r.content


async def test_if_none_match_does_not_hide_errors_or_writes(
    client: httpx.AsyncClient, loaded: Loaded
) -> None:
    h = {**loaded.admin, "If-None-Match": "*"}
    r = await client.get("/v1/customers/00000000-0000-0000-0000-000000000000", headers=h)
    assert r.status_code == 404
    r = await client.get(f"/v1/customers/{loaded.values['customer_id']}", headers=h)
    assert r.status_code == 304
    etag = r.headers["etag"]
    r = await client.patch(
        f"/v1/customers/{loaded.values['customer_id']}",
        json={"notes": "checked"},
        headers={**loaded.admin, "If-None-Match": etag, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != etag
