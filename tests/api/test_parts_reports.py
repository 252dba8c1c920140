"""Spare-parts reports through the API on real PostgreSQL: stock is built with receipts,
transfers (one still in transit), scrap, a loaner pool and part requests fitted on a
ticket (one issue reversed); each report's figures are asserted exactly in JSON, and
its CSV (BOM, header row, RFC 4180 quoting) parses back to the same figures. Periods
are checked (time zone, order, 366 days), branch scope holds in every report, and
hostile parameters answer 4xx, never 5xx."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.db import open_uow
from app.parts.models import Loan, Rma
from app.parts.service import ledger, serials
from app.parts.service.ledger import Line, Place
from tests.api.conftest import create_ticket, problem
from tests.api.partskit import make_part, make_warehouse, receive
from tests.conftest import issue_key
from tests.factories import World

BASE = "/v1/reports/parts"
BOM = b"\xef\xbb\xbf"
_ACTOR = SimpleNamespace(id=None, name="报表测试")
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock_start() -> datetime:
    """Today 10:00 in Shanghai (02:00 UTC): the business date is the UTC date."""
    return datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)


@dataclass
class Stock:
    t0: datetime
    a: dict[str, Any]  # 100.00 CNY
    b: dict[str, Any]  # 250.50 CNY, a name with a comma and quotes
    c: dict[str, Any]  # a name that would start a formula; a zero balance only
    lo: dict[str, Any]  # serialised, 1000.00: two units in W1's loaner pool
    u: dict[str, Any]  # 10.00 USD
    w1: dict[str, Any]  # the world's branch
    w2: dict[str, Any]  # the other branch
    ticket: dict[str, Any]


async def _post(client: httpx.AsyncClient, h: dict[str, str], url: str,
                body: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    r = await client.post(url, json=body, headers=h)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def _transfer(client: httpx.AsyncClient, h: dict[str, str], part: Any, src: Any, dst: Any,
                    qty: int) -> dict[str, Any]:  # fmt: skip
    return await _post(client, h, "/v1/stock/transfers", {
        "part_id": part["id"], "from_warehouse_id": src["id"], "to_warehouse_id": dst["id"],
        "quantity": qty})  # fmt: skip


async def _reverse_issue(client: httpx.AsyncClient, h: dict[str, str], part_id: str) -> None:
    """A correction of an issue (no workflow step does it yet): a reversal row through
    the ledger, as a correction would write it."""
    r = await client.get("/v1/stock/movements", params={"kind": "issue", "part_id": part_id},
                         headers=h)  # fmt: skip
    [row] = r.json()["items"]
    async with open_uow() as uow:
        await ledger.post(uow, _ACTOR, "reversal", [Line(
            uuid.UUID(part_id), uuid.UUID(row["warehouse_id"]), -row["quantity"], "good",
            reverses_id=uuid.UUID(row["id"]))])  # fmt: skip


@pytest.fixture
async def stock(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, clock: Any
) -> Stock:
    t0 = clock.now()
    a = await make_part(client, admin)
    b = await make_part(client, admin, name='风扇模块, "静音"版', unit_cost="250.50")
    c = await make_part(client, admin, name='=HYPERLINK("http://x")', unit_cost="5.00")
    lo = await make_part(client, admin, name="备机 交换机", unit_cost="1000.00", serialised=True)
    u = await make_part(client, admin, name="光模块", unit_cost="10.00", currency="USD")
    w1 = await make_warehouse(client, admin, world.branch_id)
    w2 = await make_warehouse(client, admin, world.other_branch_id, name="北京备件库")
    # Before the period: ten of A into W1.
    clock.set(t0 - timedelta(days=2))
    await receive(client, admin, a["id"], w1["id"], 10)
    clock.set(t0)
    await receive(client, admin, a["id"], w2["id"], 5)
    await receive(client, admin, b["id"], w1["id"], 4)
    await receive(client, admin, lo["id"], w1["id"], 2, serials=["LN-01", "LN-02"], loaner=True)
    await receive(client, admin, u["id"], w2["id"], 3)
    t = await _transfer(client, admin, a, w1, w2, 3)
    await _post(client, admin, f"/v1/stock/transfers/{t['id']}/receive")
    await _transfer(client, admin, a, w2, w1, 1)  # left in transit
    await _post(client, admin, "/v1/stock/scrap", {
        "part_id": b["id"], "warehouse_id": w1["id"], "quantity": 1, "reason": "运输损坏"})  # fmt: skip
    r = await client.put(f"/v1/stock/balances/{c['id']}/{w1['id']}/levels", headers=admin,
                         json={"reorder_point": 1, "target_level": 2})  # fmt: skip
    assert r.status_code == 200, r.text
    # A ticket fits two of A (its defective parts come back into W1) and one of B.
    ticket = await create_ticket(client, admin, world)
    r = await client.post(f"/v1/tickets/{ticket['id']}/part-requests", headers=admin, json={
        "lines": [{"part_id": a["id"], "quantity": 2, "warehouse_id": w1["id"]},
                  {"part_id": b["id"], "quantity": 1, "warehouse_id": w1["id"]}]})  # fmt: skip
    assert r.status_code == 201, r.text
    reqs = {q["part_id"]: q for q in r.json()["items"]}
    for part in (a, b):
        q = reqs[part["id"]]
        assert q["state"] == "approved", q
        await _post(client, admin, f"/v1/part-requests/{q['id']}/dispatch")
        await _post(client, admin, f"/v1/part-requests/{q['id']}/fit",
                    {"return_expected": part is a})  # fmt: skip
    await _post(client, admin, f"/v1/part-requests/{reqs[a['id']]['id']}/defective-return",
                {"warehouse_id": w1["id"]})  # fmt: skip
    await _reverse_issue(client, admin, b["id"])
    return Stock(t0, a, b, c, lo, u, w1, w2, ticket)


def _csv(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(BOM)
    assert b"\r\n" in r.content
    return list(csv.DictReader(io.StringIO(r.content[len(BOM) :].decode("utf-8"), newline="")))


def _as_csv(row: dict[str, Any]) -> dict[str, str]:
    """A JSON row as its CSV cells."""

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return {k: cell(v) for k, v in row.items()}


async def _both(client: httpx.AsyncClient, h: dict[str, str], path: str, key: str = "rows",
                **params: Any) -> list[dict[str, Any]]:  # fmt: skip
    """The report's JSON rows, after checking that its CSV holds exactly the same."""
    r = await client.get(f"{BASE}/{path}", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    rows: list[dict[str, Any]] = r.json()[key]
    parsed = _csv(await client.get(f"{BASE}/{path}", params={**params, "format": "csv"},
                                   headers=h))  # fmt: skip
    assert parsed == [_as_csv(x) for x in rows]
    return rows


def _ids(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(x[k] for k in keys): x for x in rows}


# --- stock by warehouse ---------------------------------------------------------------


async def test_stock_by_warehouse_json_and_csv(client, admin, stock: Stock) -> None:
    s = stock
    rows = await _both(client, admin, "stock-by-warehouse")
    got = {(x["warehouse_code"], x["part_number"]): {k: x[k] for k in (
        "on_hand", "reserved", "available", "defective", "in_transit", "loaners", "value",
        "currency")} for x in rows}  # fmt: skip
    w1, w2 = s.w1["code"], s.w2["code"]
    assert got == {
        (w1, s.a["number"]): {"on_hand": 5, "reserved": 0, "available": 5, "defective": 2,
                              "in_transit": 1, "loaners": 0, "value": "500.00",
                              "currency": "CNY"},
        (w1, s.b["number"]): {"on_hand": 3, "reserved": 0, "available": 3, "defective": 0,
                              "in_transit": 0, "loaners": 0, "value": "751.50",
                              "currency": "CNY"},
        (w1, s.lo["number"]): {"on_hand": 0, "reserved": 0, "available": 0, "defective": 0,
                               "in_transit": 0, "loaners": 2, "value": "0.00",
                               "currency": "CNY"},
        (w2, s.a["number"]): {"on_hand": 7, "reserved": 0, "available": 7, "defective": 0,
                              "in_transit": 0, "loaners": 0, "value": "700.00",
                              "currency": "CNY"},
        (w2, s.u["number"]): {"on_hand": 3, "reserved": 0, "available": 3, "defective": 0,
                              "in_transit": 0, "loaners": 0, "value": "30.00",
                              "currency": "USD"},
    }  # fmt: skip
    one = _ids(rows, "warehouse_code", "part_number")[(w1, s.b["number"])]
    assert one["part_name"] == '风扇模块, "静音"版' and one["unit_cost"] == "250.50"
    assert one["warehouse_kind"] == "branch" and one["branch_id"] == s.w1["branch_id"]

    # Filters; and the all-zero balance only with include_zero.
    only = await _both(client, admin, "stock-by-warehouse", warehouse_id=s.w2["id"],
                       part_id=s.a["id"])  # fmt: skip
    assert [(x["warehouse_code"], x["on_hand"]) for x in only] == [(w2, 7)]
    by_branch = await _both(client, admin, "stock-by-warehouse", branch_id=s.w2["branch_id"])
    assert {x["part_number"] for x in by_branch} == {s.a["number"], s.u["number"]}
    r = await client.get(f"{BASE}/stock-by-warehouse", params={"include_zero": "true"},
                         headers=admin)  # fmt: skip
    zero = _ids(r.json()["rows"], "part_number")[(s.c["number"],)]
    assert (zero["on_hand"], zero["value"]) == (0, "0.00")
    # The CSV: a name that would start a formula is neutralised, and the file is named.
    r = await client.get(f"{BASE}/stock-by-warehouse", params={"include_zero": "true"},
                         headers={**admin, "Accept": "text/csv"})  # fmt: skip
    cells = {x["part_number"]: x for x in _csv(r)}
    assert cells[s.c["number"]]["part_name"] == '\'=HYPERLINK("http://x")'
    today = s.t0.astimezone(ZONE).strftime("%Y%m%d")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="stock-by-warehouse-{today}.csv"'
    )
    assert "Accept" in r.headers["vary"]


async def test_content_negotiation(client, admin, stock: Stock) -> None:
    url = f"{BASE}/stock-by-warehouse"
    for accept, kind in (
        ("text/csv", "text/csv"),
        ("text/csv, */*;q=0.1", "text/csv"),
        ("application/json, text/csv;q=0.5", "application/json"),
        ("*/*", "application/json"),
        ("text/*", "text/csv"),
        ("text/csv;q=bogus, application/json;q=0.2", "application/json"),
        ("image/png", "application/json"),
    ):
        r = await client.get(url, headers={**admin, "Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), accept
    # `format` wins over Accept, either way.
    r = await client.get(url, params={"format": "json"}, headers={**admin, "Accept": "text/csv"})
    assert r.headers["content-type"] == "application/json"
    r = await client.get(url, params={"format": "csv"},
                         headers={**admin, "Accept": "application/json"})  # fmt: skip
    assert r.headers["content-type"].startswith("text/csv")


async def test_the_spec_documents_json_and_csv(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, op_id in (("stock-by-warehouse", "reportStockByWarehouse"),
                        ("movements", "reportStockMovements"), ("usage", "reportPartsUsage"),
                        ("value-on-hand", "reportStockValue"), ("open-loans", "reportOpenLoans"),
                        ("open-rmas", "reportOpenRmas")):  # fmt: skip
        op = spec["paths"][f"{BASE}/{path}"]["get"]
        assert op["operationId"] == op_id
        content = op["responses"]["200"]["content"]
        assert content["text/csv"]["schema"] == {"type": "string"}
        assert "$ref" in content["application/json"]["schema"]
        assert "format" in {p["name"] for p in op["parameters"]}


# --- movements ------------------------------------------------------------------------


def _period(s: Stock, days: float = 1) -> dict[str, str]:
    return {"since": (s.t0 - timedelta(hours=1)).isoformat(),
            "until": (s.t0 + timedelta(days=days)).isoformat()}  # fmt: skip


async def test_movements_over_a_period(client, admin, stock: Stock) -> None:
    s = stock
    rows = await _both(client, admin, "movements", **_period(s))
    got = {(x["part_number"], x["warehouse_code"], x["kind"], x["bucket"]):
           (x["movements"], x["quantity_in"], x["quantity_out"], x["value_moved"], x["currency"])
           for x in rows}  # fmt: skip
    a, b, lo, u = s.a["number"], s.b["number"], s.lo["number"], s.u["number"]
    w1, w2 = s.w1["code"], s.w2["code"]
    assert got == {
        (a, w1, "transfer_out", "good"): (1, 0, 3, "300.00", "CNY"),
        (a, w2, "transfer_out", "in_transit"): (1, 3, 0, "300.00", "CNY"),
        (a, w2, "transfer_in", "in_transit"): (1, 0, 3, "300.00", "CNY"),
        (a, w2, "transfer_in", "good"): (1, 3, 0, "300.00", "CNY"),
        (a, w2, "receipt", "good"): (1, 5, 0, "500.00", "CNY"),
        (a, w2, "transfer_out", "good"): (1, 0, 1, "100.00", "CNY"),
        (a, w1, "transfer_out", "in_transit"): (1, 1, 0, "100.00", "CNY"),
        (a, w1, "issue", "good"): (1, 0, 2, "200.00", "CNY"),
        (a, w1, "return_defective", "defective"): (1, 2, 0, "200.00", "CNY"),
        (b, w1, "receipt", "good"): (1, 4, 0, "1002.00", "CNY"),
        (b, w1, "scrap", "good"): (1, 0, 1, "250.50", "CNY"),
        (b, w1, "issue", "good"): (1, 0, 1, "250.50", "CNY"),
        (b, w1, "reversal", "good"): (1, 1, 0, "250.50", "CNY"),
        (lo, w1, "receipt", "loaner"): (2, 2, 0, "2000.00", "CNY"),
        (u, w2, "receipt", "good"): (1, 3, 0, "30.00", "USD"),
    }  # fmt: skip
    # The receipt two days before is outside; so is everything after `until`.
    wider = {"since": (s.t0 - timedelta(days=3)).isoformat(), "until": _period(s)["until"]}
    r = await client.get(f"{BASE}/movements", params={**wider, "kind": "receipt",
                                                      "part_id": s.a["id"]}, headers=admin)  # fmt: skip
    assert [(x["warehouse_code"], x["quantity_in"]) for x in
            sorted(r.json()["rows"], key=lambda x: x["warehouse_code"] != w1)] == [(w1, 10), (w2, 5)]  # fmt: skip
    later = {"since": (s.t0 + timedelta(seconds=1)).isoformat(),
             "until": (s.t0 + timedelta(days=1)).isoformat()}  # fmt: skip
    r = await client.get(f"{BASE}/movements", params=later, headers=admin)
    assert r.status_code == 200 and r.json()["rows"] == []
    r = await client.get(f"{BASE}/movements", params={**_period(s), "branch_id":
                                                      s.w2["branch_id"]}, headers=admin)  # fmt: skip
    assert {x["warehouse_code"] for x in r.json()["rows"]} == {w2}


@pytest.mark.parametrize("path", ["movements", "usage"])
async def test_period_rules(client, admin, clock, path: str) -> None:
    t = clock.now()
    url = f"{BASE}/{path}"

    async def get(**params: Any) -> httpx.Response:
        return await client.get(url, params=params, headers=admin)

    problem(await get(until=t.isoformat()), 422, "since")
    problem(await get(since=t.isoformat()), 422, "until")
    problem(await get(since="2026-03-01T00:00:00", until=t.isoformat()), 422, "since")
    problem(await get(since=t.isoformat(), until=(t - timedelta(days=1)).isoformat()), 422,
            "until")  # fmt: skip
    problem(await get(since=t.isoformat(), until=t.isoformat()), 422, "until")
    problem(await get(since=t.isoformat(), until=(t + timedelta(days=366, seconds=1)).isoformat()),
            422, "until")  # fmt: skip
    r = await get(since=t.isoformat(), until=(t + timedelta(days=366)).isoformat())
    assert r.status_code == 200, r.text
    # Any zone is accepted; the end is still at most 366 days after the start.
    r = await get(since=t.astimezone(ZONE).isoformat(), until="2999-01-01T00:00:00Z")
    problem(r, 422, "until")


# --- usage ----------------------------------------------------------------------------


async def test_usage_by_each_grouping_net_of_reversals(client, admin, world, stock: Stock) -> None:
    s = stock
    period = _period(s)
    expected = {
        "part": (s.a["id"], s.a["number"], s.a["name"]),
        "ticket": (s.ticket["id"], s.ticket["number"], s.ticket["subject"]),
        "customer": (str(world.customer_id), None, "上海浦东发展银行数据中心"),
        "product_family": ("switch", "switch", "交换机"),
    }
    for group_by, (key, code, name) in expected.items():
        r = await client.get(f"{BASE}/usage", params={**period, "group_by": group_by},
                             headers=admin)  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        # B's issue was reversed: it used nothing, so it is no row.
        [row] = body["rows"]
        assert (row["group_by"], row["key"], row["name"]) == (group_by, key, name)
        if code is not None:
            assert row["code"] == code
        assert (row["tickets"], row["quantity"], row["value"], row["currency"]) == \
            (1, 2, "200.00", "CNY")  # fmt: skip
        assert body["totals"] == [{"currency": "CNY", "tickets": 1, "quantity": 2,
                                   "value": "200.00"}]  # fmt: skip
        rows = await _both(client, admin, "usage", **period, group_by=group_by)
        assert rows == body["rows"]
    r = await client.get(f"{BASE}/usage", params=_period(s) | {"part_id": s.b["id"]},
                         headers=admin)  # fmt: skip
    assert r.json()["rows"] == [] and r.json()["totals"] == []
    # A later period: nothing used.
    later = {"since": (s.t0 + timedelta(hours=1)).isoformat(),
             "until": (s.t0 + timedelta(days=2)).isoformat()}  # fmt: skip
    r = await client.get(f"{BASE}/usage", params=later, headers=admin)
    assert r.json()["rows"] == []
    r = await client.get(f"{BASE}/usage", params=period, headers={**admin, "Accept": "text/csv"})
    assert r.headers["content-disposition"].startswith('attachment; filename="parts-usage-by-part-')


# --- value on hand --------------------------------------------------------------------


async def test_value_on_hand_per_warehouse_and_currency(client, admin, stock: Stock) -> None:
    s = stock
    r = await client.get(f"{BASE}/value-on-hand", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    figures = ("on_hand", "reserved", "value", "in_transit", "in_transit_value", "loaners",
               "loaner_value", "defective")  # fmt: skip

    def fig(x: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(x[k] for k in figures)

    got = {(x["warehouse_code"], x["currency"]): fig(x) for x in body["warehouses"]}
    assert got == {
        (s.w1["code"], "CNY"): (8, 0, "1251.50", 1, "100.00", 2, "2000.00", 2),
        (s.w2["code"], "CNY"): (7, 0, "700.00", 0, "0.00", 0, "0.00", 0),
        (s.w2["code"], "USD"): (3, 0, "30.00", 0, "0.00", 0, "0.00", 0),
    }
    assert all(x["scope"] == "warehouse" for x in body["warehouses"])
    totals = {x["currency"]: fig(x) for x in body["totals"]}
    assert totals == {"CNY": (15, 0, "1951.50", 1, "100.00", 2, "2000.00", 2),
                      "USD": (3, 0, "30.00", 0, "0.00", 0, "0.00", 0)}  # fmt: skip
    assert all(x["scope"] == "total" and x["warehouse_id"] is None for x in body["totals"])
    parsed = _csv(await client.get(f"{BASE}/value-on-hand", params={"format": "csv"},
                                   headers=admin))  # fmt: skip
    assert parsed == [_as_csv(x) for x in body["warehouses"] + body["totals"]]
    r = await client.get(f"{BASE}/value-on-hand", params={"warehouse_kind": "central"},
                         headers=admin)  # fmt: skip
    assert r.json() == {**r.json(), "warehouses": [], "totals": []}


# --- open loans -----------------------------------------------------------------------


async def _loans(world: World, s: Stock) -> dict[str, uuid.UUID]:
    today = s.t0.astimezone(ZONE).date()
    made = {}
    async with open_uow() as uow:
        for name, branch, customer, lent_days, due_in, state in (
            ("late", world.branch_id, world.customer_id, 10, -3, "out"),
            ("fresh", world.branch_id, world.customer_id, 0, 5, "out"),
            ("due_today", world.branch_id, world.customer_id, 1, 0, "out"),
            ("back", world.branch_id, world.customer_id, 20, -10, "returned"),
            ("other", world.other_branch_id, world.other_customer_id, 2, 1, "out"),
        ):
            serial = await serials.new_serial(uow, uuid.UUID(s.lo["id"]), f"LOAN-{name}",
                                              Place("customer", customer_id=customer))  # fmt: skip
            loan = Loan(
                serial_id=serial.id, part_id=uuid.UUID(s.lo["id"]),
                warehouse_id=uuid.UUID(s.w1["id"]), ticket_id=uuid.UUID(s.ticket["id"]),
                branch_id=branch, customer_id=customer, state=state,
                lent_at=s.t0 - timedelta(days=lent_days),
                due_back_on=today + timedelta(days=due_in), created_by="测试",
                ended_at=s.t0 if state != "out" else None,
            )  # fmt: skip
            uow.session.add(loan)
            made[name] = loan.id
        await uow.session.flush()
    return made


async def test_open_loans(client, admin, world, stock: Stock) -> None:
    s = stock
    ids = await _loans(world, s)
    rows = await _both(client, admin, "open-loans")
    got = {x["loan_id"]: (x["serial"], x["days_out"], x["overdue"], x["days_overdue"])
           for x in rows}  # fmt: skip
    assert got == {
        str(ids["late"]): ("LOAN-late", 10, True, 3),
        str(ids["fresh"]): ("LOAN-fresh", 0, False, 0),
        str(ids["due_today"]): ("LOAN-due_today", 1, False, 0),
        str(ids["other"]): ("LOAN-other", 2, False, 0),
    }
    # Oldest due first.
    assert rows[0]["loan_id"] == str(ids["late"])
    late = rows[0]
    assert (late["part_number"], late["customer_name"], late["ticket_number"]) == (
        s.lo["number"],
        "上海浦东发展银行数据中心",
        s.ticket["number"],
    )
    assert late["due_back_on"] == (s.t0.astimezone(ZONE).date() - timedelta(days=3)).isoformat()
    r = await client.get(f"{BASE}/open-loans", params={"overdue": "true"}, headers=admin)
    assert [x["loan_id"] for x in r.json()["rows"]] == [str(ids["late"])]
    r = await client.get(f"{BASE}/open-loans", params={"customer_id": str(world.other_customer_id)},
                         headers=admin)  # fmt: skip
    assert [x["loan_id"] for x in r.json()["rows"]] == [str(ids["other"])]
    assert r.json()["today"] == s.t0.astimezone(ZONE).date().isoformat()


# --- open RMAs ------------------------------------------------------------------------


async def _rmas(world: World, s: Stock) -> None:
    async with open_uow() as uow:
        for i, (age, state, branch) in enumerate((
            (0, "authorised", world.branch_id), (7, "received", world.branch_id),
            (8, "in_repair", world.branch_id), (14, "in_repair", world.branch_id),
            (15, "authorised", world.branch_id), (30, "repaired", world.branch_id),
            (31, "shipped_back", world.branch_id), (45, "authorised", world.branch_id),
            (3, "closed", world.branch_id), (50, "expired", world.branch_id),
            (5, "cancelled", world.branch_id), (2, "authorised", world.other_branch_id),
        )):  # fmt: skip
            uow.session.add(Rma(
                number=f"RMA-T{i:02d}", branch_id=branch, customer_id=world.customer_id,
                part_id=uuid.UUID(s.a["id"]), reason="电源故障", state=state,
                expires_at=s.t0 + timedelta(days=30), created_by="测试",
                created_at=s.t0 - timedelta(days=age), updated_at=s.t0,
            ))  # fmt: skip


async def test_open_rmas_by_age_and_state(client, admin, world, stock: Stock) -> None:
    s = stock
    await _rmas(world, s)
    r = await client.get(f"{BASE}/open-rmas", headers=admin)
    assert r.status_code == 200, r.text
    buckets = {b["bucket"]: b for b in r.json()["buckets"]}
    assert list(buckets) == ["0-7", "8-14", "15-30", "31+"]
    assert {k: (b["count"], b["numbers"]) for k, b in buckets.items()} == {
        "0-7": (3, ["RMA-T01", "RMA-T11", "RMA-T00"]),
        "8-14": (2, ["RMA-T03", "RMA-T02"]),
        "15-30": (2, ["RMA-T05", "RMA-T04"]),
        "31+": (2, ["RMA-T07", "RMA-T06"]),
    }
    states = {(k, g["state"]): (g["count"], g["numbers"])
              for k, b in buckets.items() for g in b["states"]}  # fmt: skip
    assert states == {
        ("0-7", "received"): (1, ["RMA-T01"]),
        ("0-7", "authorised"): (2, ["RMA-T11", "RMA-T00"]),
        ("8-14", "in_repair"): (2, ["RMA-T03", "RMA-T02"]),
        ("15-30", "repaired"): (1, ["RMA-T05"]),
        ("15-30", "authorised"): (1, ["RMA-T04"]),
        ("31+", "authorised"): (1, ["RMA-T07"]),
        ("31+", "shipped_back"): (1, ["RMA-T06"]),
    }
    assert (buckets["31+"]["min_days"], buckets["31+"]["max_days"]) == (31, None)
    # The CSV: one row per open RMA, with its bucket.
    parsed = _csv(await client.get(f"{BASE}/open-rmas", params={"format": "csv"}, headers=admin))
    assert [(x["number"], x["age_days"], x["age_bucket"], x["state"]) for x in parsed] == [
        ("RMA-T07", "45", "31+", "authorised"), ("RMA-T06", "31", "31+", "shipped_back"),
        ("RMA-T05", "30", "15-30", "repaired"), ("RMA-T04", "15", "15-30", "authorised"),
        ("RMA-T03", "14", "8-14", "in_repair"), ("RMA-T02", "8", "8-14", "in_repair"),
        ("RMA-T01", "7", "0-7", "received"), ("RMA-T11", "2", "0-7", "authorised"),
        ("RMA-T00", "0", "0-7", "authorised"),
    ]  # fmt: skip
    assert parsed[0]["part_number"] == s.a["number"]
    assert parsed[0]["customer_name"] == "上海浦东发展银行数据中心"


# --- branch scope ---------------------------------------------------------------------


async def test_a_branch_key_sees_its_branch_only(client, admin, world, stock: Stock) -> None:
    s = stock
    await _loans(world, s)
    await _rmas(world, s)
    other = await issue_key("manager", world.other_branch_id)
    rows = await _both(client, other, "stock-by-warehouse")
    assert {x["warehouse_code"] for x in rows} == {s.w2["code"]}
    # Naming the other branch's warehouse or branch gives nothing, not its stock.
    for params in ({"warehouse_id": s.w1["id"]}, {"branch_id": str(world.branch_id)}):
        r = await client.get(f"{BASE}/stock-by-warehouse", params=params, headers=other)
        assert r.status_code == 200 and r.json()["rows"] == []
    rows = await _both(client, other, "movements", **_period(s))
    assert {x["warehouse_code"] for x in rows} == {s.w2["code"]}
    r = await client.get(f"{BASE}/usage", params=_period(s), headers=other)
    assert r.json()["rows"] == [] and r.json()["totals"] == []
    r = await client.get(f"{BASE}/value-on-hand", headers=other)
    assert {x["warehouse_code"] for x in r.json()["warehouses"]} == {s.w2["code"]}
    assert {x["currency"]: x["value"] for x in r.json()["totals"]} == {"CNY": "700.00",
                                                                       "USD": "30.00"}  # fmt: skip
    rows = await _both(client, other, "open-loans")
    assert [x["serial"] for x in rows] == ["LOAN-other"]
    r = await client.get(f"{BASE}/open-rmas", headers=other)
    assert [b["numbers"] for b in r.json()["buckets"]] == [["RMA-T11"], [], [], []]
    parsed = _csv(await client.get(f"{BASE}/open-rmas", params={"format": "csv"}, headers=other))
    assert [x["number"] for x in parsed] == ["RMA-T11"]
    # The world's branch key sees its own side.
    mine = await issue_key("manager", world.branch_id)
    r = await client.get(f"{BASE}/usage", params=_period(s), headers=mine)
    assert [x["quantity"] for x in r.json()["rows"]] == [2]


# --- hostile input --------------------------------------------------------------------


_BAD_PERIOD: list[dict[str, Any]] = [
    {"since": "2026-13-45T25:61:00Z"},
    {"since": "\x00"},
    {"until": "9" * 30_000},
    {"since": "0000-00-00T00:00:00Z"},
    {"until": "x" * 30_000},
    {"since": ["a", "b"]},
]
_HOSTILE: dict[str, list[dict[str, Any]]] = {
    "stock-by-warehouse": [{"include_zero": "maybe"}, {"part_id": "1"},
                           {"warehouse_id": "x" * 30_000}],
    "movements": [*_BAD_PERIOD, {"kind": "x" * 1000}, {"kind": "evil"}, {"kind": "issue\x00"}],
    "usage": [*_BAD_PERIOD, {"group_by": "evil'; DROP TABLE parts;--"}, {"group_by": ""}],
    "value-on-hand": [{"warehouse_kind": "moon"}, {"warehouse_id": "\x00"}],
    "open-loans": [{"overdue": "\x00"}, {"customer_id": "00000000-0000-0000-0000-00000000000G"}],
    "open-rmas": [{"branch_id": "'; DROP TABLE rmas;--"}],
}  # fmt: skip


@pytest.mark.parametrize("path", list(_HOSTILE))
async def test_hostile_parameters_are_4xx(client, admin, clock, path: str) -> None:
    t = clock.now()
    period = {"since": t.isoformat(), "until": (t + timedelta(days=1)).isoformat()}
    url = f"{BASE}/{path}"
    problem(await client.get(url, params=period), 401)
    common: list[dict[str, Any]] = [
        {"format": "xml"},
        {"format": "csv\x00"},
        {"format": "é" * 5000},
        {"branch_id": "not-a-uuid"},
        {"branch_id": "\x00"},
        {"branch_id": "x" * 30_000},
    ]
    for extra in common + _HOSTILE[path]:
        r = await client.get(url, params={**period, **extra}, headers=admin)
        assert 400 <= r.status_code < 500, (extra, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/problem+json"
    # A strange Accept is no error: JSON.
    r = await client.get(
        url, params=period, headers={**admin, "Accept": "text/csv;q=" + "9" * 5000}
    )
    assert r.status_code == 200, r.text
