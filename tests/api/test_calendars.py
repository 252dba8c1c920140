"""Business calendars over HTTP: system defaults, CRUD, validation, roles, idempotency,
the preview (due times and working time, China's public holidays included) and the
per-process spec cache SLA code uses."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.calendars import businesstime as bt
from app.calendars import defaults, service
from app.core.db import open_uow
from app.defaults import ensure_defaults
from tests.conftest import ROOT, issue_key

OFFICE = [["09:00", "18:00"]]
WEEKLY_5X8 = [OFFICE] * 5 + [[], []]
SH = "+08:00"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "code": "sh-office",
        "name": "上海办公时间",
        "name_en": "Shanghai office hours",
        "tz": "Asia/Shanghai",
        "weekly": WEEKLY_5X8,
        "holiday_country": None,
        **changes,
    }


@pytest.fixture(autouse=True)
def _fresh_spec_cache() -> Iterator[None]:
    # Tables are truncated between tests and the defaults come back at version 1: a
    # spec cached for a row of an earlier test must not answer for a new one.
    service.clear_spec_cache()
    yield
    service.clear_spec_cache()


async def count() -> int:
    async with open_uow() as uow:
        n = (await uow.session.execute(text("SELECT count(*) FROM calendars"))).scalar_one()
    return int(n)


async def create(client: httpx.AsyncClient, admin: dict[str, str], **changes: Any) -> Any:
    r = await client.post("/v1/calendars", json=body(**changes), headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


async def preview(
    client: httpx.AsyncClient, headers: dict[str, str], calendar_id: str, **params: str
) -> httpx.Response:
    return await client.get(f"/v1/calendars/{calendar_id}/preview", params=params, headers=headers)


def by_code(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in items}


# -- defaults -------------------------------------------------------------------------


async def test_system_calendars_exist(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.get("/v1/calendars", headers=admin)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [c["code"] for c in items] == ["24x7", "cn-5x8", "cn-5x8-lunch"]
    cals = by_code(items)
    assert all(c["system"] and c["active"] and c["version"] == 1 for c in items)
    assert cals["24x7"]["id"] == str(defaults.CALENDAR_24X7)
    assert cals["24x7"]["weekly"] == [[["00:00", "24:00"]]] * 7
    assert cals["24x7"]["holiday_country"] is None and cals["24x7"]["tz"] == "Asia/Shanghai"
    assert cals["cn-5x8"]["id"] == str(defaults.CALENDAR_CN_5X8)
    assert cals["cn-5x8"]["weekly"] == WEEKLY_5X8 and cals["cn-5x8"]["holiday_country"] == "CN"
    assert cals["cn-5x8"]["name"] == "工作日 5x8"
    lunch = [["09:00", "12:00"], ["13:30", "18:00"]]
    assert cals["cn-5x8-lunch"]["weekly"] == [lunch] * 5 + [[], []]
    assert cals["cn-5x8-lunch"]["overrides"] == []


def test_migration_seeds_the_same_rows_as_the_defaults() -> None:
    path = ROOT / "alembic" / "versions" / "0003_calendars.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    frozen = [
        {"id": uuid.UUID(i), "code": c, "name": n, "name_en": e, "tz": tz, "weekly": w,
         "holiday_country": hc}
        for i, c, n, e, tz, w, hc in migration.CALENDARS
    ]  # fmt: skip
    assert frozen == defaults.CALENDARS


async def test_ensure_defaults_is_idempotent_and_keeps_edits(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.patch(
        f"/v1/calendars/{defaults.CALENDAR_CN_5X8}", json={"name": "中国工作日"}, headers=admin
    )
    assert r.status_code == 200
    async with open_uow() as uow:
        await ensure_defaults(uow)
        await ensure_defaults(uow)
    assert await count() == 3
    got = await client.get("/v1/calendars/by-code/cn-5x8", headers=admin)
    assert got.json()["name"] == "中国工作日" and got.json()["version"] == 2


# -- CRUD -----------------------------------------------------------------------------


async def test_create_get_list_update(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    weekly = [[["13:30", "18:00"], ["09:00", "12:00"]]] * 5 + [[["10:00", "24:00"]], []]
    r = await client.post(
        "/v1/calendars",
        json=body(
            weekly=weekly,
            holiday_country="cn",
            overrides=[
                {"date": "2026-07-01", "hours": [], "note": "公司成立纪念日"},
                {"date": "2026-06-30", "hours": [["09:00", "15:00"]]},
            ],
        ),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["etag"] == 'W/"1"' and created["version"] == 1
    assert created["system"] is False and created["active"] is True
    # Stored normalised: intervals sorted, overrides by date, country upper case.
    assert created["weekly"][0] == [["09:00", "12:00"], ["13:30", "18:00"]]
    assert created["weekly"][5] == [["10:00", "24:00"]] and created["weekly"][6] == []
    assert created["holiday_country"] == "CN"
    assert created["overrides"] == [
        {"date": "2026-06-30", "hours": [["09:00", "15:00"]], "note": None},
        {"date": "2026-07-01", "hours": [], "note": "公司成立纪念日"},
    ]
    cid = created["id"]
    got = await client.get(f"/v1/calendars/{cid}", headers=admin)
    assert got.status_code == 200 and got.json() == created and got.headers["etag"] == 'W/"1"'
    by = await client.get("/v1/calendars/by-code/sh-office", headers=admin)
    assert by.status_code == 200 and by.json() == created

    r = await client.patch(
        f"/v1/calendars/{cid}",
        json={"code": "sh-office-2", "name_en": "Renamed", "weekly": WEEKLY_5X8, "overrides": []},
        headers={**admin, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert r.headers["etag"] == 'W/"2"' and updated["version"] == 2
    assert (updated["code"], updated["name_en"], updated["name"]) == (
        "sh-office-2",
        "Renamed",
        "上海办公时间",
    )
    assert updated["weekly"] == WEEKLY_5X8 and updated["overrides"] == []
    assert updated["holiday_country"] == "CN"  # not given: kept
    assert updated["updated_at"] >= created["updated_at"]

    stale = await client.patch(
        f"/v1/calendars/{cid}", json={"name": "再改"}, headers={**admin, "If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412 and stale.json()["current_etag"] == 'W/"2"'
    assert stale.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/v1/calendars/{cid}", headers=admin)).json()[
        "name"
    ] == "上海办公时间"

    r = await client.patch(f"/v1/calendars/{cid}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["version"] == 3
    inactive = await client.get("/v1/calendars", params={"active": "false"}, headers=admin)
    assert [c["code"] for c in inactive.json()["items"]] == ["sh-office-2"]
    active = await client.get("/v1/calendars", params={"active": "true"}, headers=admin)
    assert "sh-office-2" not in [c["code"] for c in active.json()["items"]]


async def test_list_is_cursor_paginated(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for i in range(3):
        await create(client, admin, code=f"extra-{i}")
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    for _ in range(5):
        page = (await client.get("/v1/calendars", params=params, headers=admin)).json()
        assert len(page["items"]) <= 2
        seen += [c["code"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ["24x7", "cn-5x8", "cn-5x8-lunch", "extra-0", "extra-1", "extra-2"]
    r = await client.get("/v1/calendars", params={"cursor": "garbage!"}, headers=admin)
    assert r.status_code == 400


async def test_not_found(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    missing = uuid.uuid4()
    for r in (
        await client.get(f"/v1/calendars/{missing}", headers=admin),
        await client.get("/v1/calendars/by-code/nope", headers=admin),
        await client.patch(f"/v1/calendars/{missing}", json={"name": "x"}, headers=admin),
        await preview(client, admin, str(missing), start="2026-03-02T09:00:00Z", duration="60"),
    ):
        assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
    r = await client.get("/v1/calendars/not-a-uuid", headers=admin)
    assert r.status_code == 422


# -- validation -----------------------------------------------------------------------

INVALID: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("unknown tz", {"tz": "Mars/Olympus_Mons"}, ["body", "tz"]),
    ("tz is a path", {"tz": "../../etc/passwd"}, ["body", "tz"]),
    ("malformed time", {"weekly": [[["9:00", "18:00"]]] * 5 + [[], []]}, ["body", "weekly", 0, 0, 0]),
    ("hour 25", {"weekly": [[["09:00", "25:00"]]] + [[]] * 6}, ["body", "weekly", 0, 0, 1]),
    ("minute 60", {"weekly": [[]] * 6 + [[["09:60", "12:00"]]]}, ["body", "weekly", 6, 0, 0]),
    ("24:00 as a start", {"weekly": [[["24:00", "24:00"]]] + [[]] * 6}, ["body", "weekly", 0, 0, 0]),
    ("end before start", {"weekly": [[["18:00", "09:00"]]] + [[]] * 6}, ["body", "weekly", 0, 0]),
    ("empty interval", {"weekly": [[["09:00", "09:00"]]] + [[]] * 6}, ["body", "weekly", 0, 0]),
    ("overlap", {"weekly": [[["09:00", "12:00"], ["11:30", "18:00"]]] + [[]] * 6}, ["body", "weekly", 0]),
    ("six days", {"weekly": [OFFICE] * 6}, ["body", "weekly"]),
    ("eight days", {"weekly": [OFFICE] * 8}, ["body", "weekly"]),
    ("no working time", {"weekly": [[]] * 7}, ["body", "weekly"]),
    ("three-item interval", {"weekly": [[["09:00", "12:00", "18:00"]]] + [[]] * 6}, ["body", "weekly", 0, 0]),
    ("unknown country", {"holiday_country": "XX"}, ["body", "holiday_country"]),
    ("alpha-3 country", {"holiday_country": "CHN"}, ["body", "holiday_country"]),
    ("unknown subdivision", {"holiday_country": "DE", "holiday_subdivision": "XX"}, ["body", "holiday_subdivision"]),
    ("subdivision without country", {"holiday_subdivision": "BY"}, ["body", "holiday_subdivision"]),
    (
        "duplicate override date",
        {"overrides": [{"date": "2026-05-01", "hours": []}, {"date": "2026-05-01", "hours": OFFICE}]},
        ["body", "overrides", 1, "date"],
    ),
    ("override overlap", {"overrides": [{"date": "2026-05-01", "hours": [["09:00", "12:00"], ["10:00", "11:00"]]}]}, ["body", "overrides", 0, "hours"]),
    ("override bad date", {"overrides": [{"date": "2026-02-30", "hours": []}]}, ["body", "overrides", 0, "date"]),
    ("upper-case code", {"code": "SH-Office"}, ["body", "code"]),
    ("long code", {"code": "x" * 33}, ["body", "code"]),
    ("server-owned field", {"system": True}, ["body", "system"]),
    ("unknown field", {"colour": "red"}, ["body", "colour"]),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "loc"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
async def test_invalid_calendar_is_422_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], loc: list[Any]
) -> None:
    r = await client.post("/v1/calendars", json=body(**changes), headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/validation-error") and problem["status"] == 422
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert problem["detail"]
    assert await count() == 3


async def test_every_problem_is_listed(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post(
        "/v1/calendars",
        json=body(
            tz="Nowhere/City",
            weekly=[[["18:00", "09:00"]], [["09:00", "12:00"], ["11:00", "13:00"]]] + [[]] * 5,
            holiday_country="XX",
        ),
        headers=admin,
    )
    assert r.status_code == 422
    problem = r.json()
    assert {e["type"] for e in problem["errors"]} == {
        "unknown_tz",
        "interval_order",
        "interval_overlap",
        "unknown_country",
    }
    assert problem["field"] == "tz" and problem["detail"].startswith("4 problems")
    assert "09:00-12:00 and 11:00-13:00 overlap" in problem["detail"]


async def test_duplicate_code_is_409(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create(client, admin)
    r = await client.post("/v1/calendars", json=body(name="另一个"), headers=admin)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/conflict") and r.json()["field"] == "code"
    r = await client.post("/v1/calendars", json=body(code="cn-5x8"), headers=admin)
    assert r.status_code == 409
    assert await count() == 4


async def test_update_validation_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    cal = await create(client, admin, holiday_country="DE", holiday_subdivision="by")
    assert cal["holiday_subdivision"] == "BY"
    url = f"/v1/calendars/{cal['id']}"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"weekly": [[["09:00", "12:00"], ["11:00", "18:00"]]] * 7}, 422, "weekly"),
        ({"tz": "Asia/Nowhere"}, 422, "tz"),
        # The stored subdivision needs a country: removing only the country is refused.
        ({"holiday_country": None}, 422, "holiday_subdivision"),
        ({"holiday_country": "CN"}, 422, "holiday_subdivision"),  # BY is not in CN
        ({"overrides": [{"date": "2026-01-02", "hours": []}] * 2}, 422, "overrides"),
        ({"name": None}, 422, "name"),
        ({"weekly": None}, 422, "weekly"),
        ({"code": "cn-5x8"}, 409, "code"),
    ]
    for change, status, field in cases:
        r = await client.patch(url, json=change, headers=admin)
        assert r.status_code == status, (change, r.text)
        assert r.json()["field"] == field, (change, r.json())
    r = await client.patch(url, json={"name": "x"}, headers={**admin, "If-Match": "garbage"})
    assert r.status_code == 400
    after = (await client.get(url, headers=admin)).json()
    assert after == cal
    r = await client.patch(
        url, json={"holiday_country": None, "holiday_subdivision": None}, headers=admin
    )
    assert r.status_code == 200 and r.json()["holiday_country"] is None


async def test_system_calendars_cannot_be_deactivated_or_renamed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = f"/v1/calendars/{defaults.CALENDAR_24X7}"
    r = await client.patch(url, json={"active": False}, headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "active"
    r = await client.patch(url, json={"code": "always"}, headers=admin)
    assert r.status_code == 409 and r.json()["field"] == "code"
    r = await client.patch(url, json={"name": "7x24 全天候", "code": "24x7"}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["system"] is True
    got = (await client.get(url, headers=admin)).json()
    assert got["active"] is True and got["code"] == "24x7" and got["name"] == "7x24 全天候"


# -- access ---------------------------------------------------------------------------


async def test_roles(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.get("/v1/calendars")).status_code == 401
    r = await client.post("/v1/calendars", json=body())
    assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")
    r = await preview(
        client, {}, str(defaults.CALENDAR_24X7), start="2026-03-02T09:00:00Z", duration="60"
    )
    assert r.status_code == 401
    for role in ("engineer", "agent", "dispatcher", "integration"):
        key = await issue_key(role)
        assert (await client.get("/v1/calendars", headers=key)).status_code == 200
        r = await preview(
            client, key, str(defaults.CALENDAR_24X7), start="2026-03-02T09:00:00Z", duration="60"
        )
        assert r.status_code == 200
        r = await client.post("/v1/calendars", json=body(), headers=key)
        assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
        r = await client.patch(
            f"/v1/calendars/{defaults.CALENDAR_CN_5X8}", json={"name": "x"}, headers=key
        )
        assert r.status_code == 403
    assert await count() == 3
    manager = await issue_key("manager")
    assert (await client.post("/v1/calendars", json=body(), headers=manager)).status_code == 201


async def test_idempotent_create(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    h = {**admin, "Idempotency-Key": "cal-1"}
    first = await client.post("/v1/calendars", json=body(), headers=h)
    again = await client.post("/v1/calendars", json=body(), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == 'W/"1"'
    other = await client.post("/v1/calendars", json=body(code="other"), headers=h)
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert await count() == 4


# -- preview --------------------------------------------------------------------------


async def test_preview_due_over_the_2026_spring_festival(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Friday 13 Feb 2026 16:00 in Shanghai: 2 h left that day; Saturday 14 Feb is a
    # declared working day (调休上班) before the Spring Festival break (15-23 Feb).
    cid = str(defaults.CALENDAR_CN_5X8)
    for duration in ("PT4H", "14400", "14400.0"):
        r = await preview(client, admin, cid, start=f"2026-02-13T16:00:00{SH}", duration=duration)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "calendar_id": cid,
            "start": "2026-02-13T08:00:00Z",
            "start_in_working_time": True,
            "duration_seconds": 14400,
            "due_at": "2026-02-14T03:00:00Z",
        }
    # 11 h: Friday 2 h, Saturday 9 h, then nothing until Tuesday 24 Feb 09:00.
    r = await preview(client, admin, cid, start=f"2026-02-13T16:00:00{SH}", duration="PT12H")
    assert r.json()["due_at"] == "2026-02-24T02:00:00Z"
    r = await preview(
        client, admin, cid, start=f"2026-02-13T16:00:00{SH}", end=f"2026-02-24T10:00:00{SH}"
    )
    assert r.status_code == 200
    assert r.json()["business_seconds"] == 12 * 3600 and r.json()["end"] == "2026-02-24T02:00:00Z"
    # The same span on the 24x7 calendar is all clock time.
    r = await preview(
        client,
        admin,
        str(defaults.CALENDAR_24X7),
        start=f"2026-02-13T16:00:00{SH}",
        end=f"2026-02-24T10:00:00{SH}",
    )
    assert r.json()["business_seconds"] == (10 * 24 + 18) * 3600


async def test_preview_between_across_a_weekend(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Friday 6 March 2026 17:00 to Monday 9 March 10:00: 1 h on Friday, 1 h on Monday.
    r = await preview(
        client,
        admin,
        str(defaults.CALENDAR_CN_5X8),
        start=f"2026-03-06T17:00:00{SH}",
        end=f"2026-03-09T10:00:00{SH}",
    )
    assert r.status_code == 200
    assert r.json() == {
        "calendar_id": str(defaults.CALENDAR_CN_5X8),
        "start": "2026-03-06T09:00:00Z",
        "start_in_working_time": True,
        "end": "2026-03-09T02:00:00Z",
        "business_seconds": 7200,
    }
    # Saturday start: outside working time; counting waits for Monday 09:00.
    r = await preview(
        client,
        admin,
        str(defaults.CALENDAR_CN_5X8_LUNCH),
        start="2026-03-07T12:00:00+08:00",
        duration="PT4H",
    )
    assert r.json()["start_in_working_time"] is False
    # Monday 09:00-12:00 (3 h), lunch, 13:30-14:30 (1 h).
    assert r.json()["due_at"] == "2026-03-09T06:30:00Z"


async def test_preview_with_an_override_day_off(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    cal = await create(
        client,
        admin,
        overrides=[
            {"date": "2026-03-11", "hours": [], "note": "团建"},
            {"date": "2026-03-12", "hours": [["09:00", "10:00"]]},
            {"date": "2026-03-14", "hours": [["10:00", "12:00"]], "note": "周六加班"},
        ],
    )
    # Tuesday 10 March 17:00 + 3 h: 1 h Tuesday, Wednesday off, 1 h Thursday (its only
    # hour), then Friday 09:00-10:00.
    r = await preview(client, admin, cal["id"], start=f"2026-03-10T17:00:00{SH}", duration="PT3H")
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == "2026-03-13T02:00:00Z"
    # Friday 9:00 to Monday 9:00: Friday 9 h + the override Saturday's 2 h.
    r = await preview(
        client, admin, cal["id"], start=f"2026-03-13T09:00:00{SH}", end=f"2026-03-16T09:00:00{SH}"
    )
    assert r.json()["business_seconds"] == 11 * 3600
    # Without the override, the same Tuesday + 3 h ends on Wednesday 11:00.
    r = await client.patch(f"/v1/calendars/{cal['id']}", json={"overrides": []}, headers=admin)
    assert r.status_code == 200
    r = await preview(client, admin, cal["id"], start=f"2026-03-10T17:00:00{SH}", duration="PT3H")
    assert r.json()["due_at"] == "2026-03-11T03:00:00Z"


async def test_preview_override_beats_public_holiday(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # 1 Oct 2026 is China's National Day; an override makes it a half working day.
    cal = await create(
        client, admin, holiday_country="CN", overrides=[{"date": "2026-10-01", "hours": [["09:00", "12:00"]]}]
    )  # fmt: skip
    r = await preview(
        client, admin, cal["id"], start=f"2026-10-01T00:00:00{SH}", end=f"2026-10-02T00:00:00{SH}"
    )
    assert r.json()["business_seconds"] == 3 * 3600
    r = await preview(
        client,
        admin,
        str(defaults.CALENDAR_CN_5X8),
        start=f"2026-10-01T00:00:00{SH}",
        end=f"2026-10-02T00:00:00{SH}",
    )
    assert r.json()["business_seconds"] == 0


async def test_preview_zero_duration_is_the_start(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await preview(
        client,
        admin,
        str(defaults.CALENDAR_CN_5X8),
        start="2026-03-07T12:00:00+08:00",
        duration="0",
    )
    assert r.status_code == 200
    assert r.json()["due_at"] == r.json()["start"] == "2026-03-07T04:00:00Z"


BAD_PREVIEWS: list[tuple[str, dict[str, str], list[str]]] = [
    ("neither", {"start": "2026-03-02T09:00:00Z"}, ["query", "duration"]),
    ("both", {"start": "2026-03-02T09:00:00Z", "duration": "60", "end": "2026-03-03T09:00:00Z"}, ["query", "end"]),
    ("naive start", {"start": "2026-03-02T09:00:00", "duration": "60"}, ["query", "start"]),
    ("naive end", {"start": "2026-03-02T09:00:00Z", "end": "2026-03-03T09:00:00"}, ["query", "end"]),
    ("no start", {"duration": "60"}, ["query", "start"]),
    ("negative ISO", {"start": "2026-03-02T09:00:00Z", "duration": "-PT1H"}, ["query", "duration"]),
    ("negative seconds", {"start": "2026-03-02T09:00:00Z", "duration": "-5"}, ["query", "duration"]),
    ("months", {"start": "2026-03-02T09:00:00Z", "duration": "P1M"}, ["query", "duration"]),
    ("garbage", {"start": "2026-03-02T09:00:00Z", "duration": "four hours"}, ["query", "duration"]),
    ("huge seconds", {"start": "2026-03-02T09:00:00Z", "duration": "9" * 40}, ["query", "duration"]),
    ("end before start", {"start": "2026-03-02T09:00:00Z", "end": "2026-03-01T09:00:00Z"}, ["query", "end"]),
    ("span too long", {"start": "2026-03-02T09:00:00Z", "end": "2046-03-01T09:00:00Z"}, ["query", "end"]),
    ("beyond horizon", {"start": "2026-03-02T09:00:00Z", "duration": "P3700D"}, ["query", "duration"]),
    ("far future", {"start": "9999-06-01T09:00:00Z", "duration": "60"}, ["query", "start"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "loc"), [c[1:] for c in BAD_PREVIEWS], ids=[c[0] for c in BAD_PREVIEWS]
)
async def test_bad_preview_is_422(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], loc: list[str]
) -> None:
    r = await preview(client, admin, str(defaults.CALENDAR_CN_5X8), **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in r.json()["errors"]], r.json()


# -- the spec cache SLA code uses -----------------------------------------------------


async def test_specs_are_cached_per_version(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    cal = await create(client, admin)
    cid = uuid.UUID(cal["id"])
    missing = uuid.uuid4()
    async with open_uow() as uow:
        first = await service.specs(uow, [cid, defaults.CALENDAR_CN_5X8, missing, cid])
    assert set(first) == {cid, defaults.CALENDAR_CN_5X8}
    async with open_uow() as uow:
        # A hot path that started on the raw connection: specs() stays on it.
        await uow.connection()
        again = await service.specs(uow, [cid])
    assert again[cid] is first[cid]
    friday = datetime(2026, 3, 6, 17, tzinfo=UTC) - timedelta(hours=8)
    assert bt.add(first[cid], friday, timedelta(hours=2)) == datetime(2026, 3, 9, 2, tzinfo=UTC)

    r = await client.patch(
        f"/v1/calendars/{cid}", json={"weekly": [[["00:00", "24:00"]]] * 7}, headers=admin
    )
    assert r.status_code == 200
    async with open_uow() as uow:
        changed = await service.specs(uow, [cid])
        # The session still works after specs() (it ran on the session's connection).
        row2 = await service.get(uow, cid)
    assert row2.version == 2
    assert changed[cid] is not first[cid]
    assert bt.add(changed[cid], friday, timedelta(hours=2)) == datetime(2026, 3, 6, 11, tzinfo=UTC)
    async with open_uow() as uow:
        assert await service.specs(uow, []) == {}
        assert service.spec_for(row2) is changed[cid]
