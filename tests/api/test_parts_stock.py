"""The stock ledger through the API: receipts, transfers, returns, scrap, adjustments and
reversals keep balances equal to the ledger; serials are in one place at a time and
their past place is answerable; refusals write nothing; the ledger refuses UPDATE and
DELETE from a raw connection."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import problem
from tests.api.partskit import make_part, make_warehouse, receive
from tests.conftest import _plain_dsn


async def _balance(client: Any, admin: dict[str, str], part_id: str, wh: str) -> dict[str, Any]:
    r = await client.get(f"/v1/parts/{part_id}/stock", params={"warehouse_id": wh}, headers=admin)
    assert r.status_code == 200, r.text
    rows = r.json()["warehouses"]
    return rows[0] if rows else {"on_hand": 0, "reserved": 0, "available": 0, "in_transit": 0,
                                 "defective": 0, "loaners": 0}  # fmt: skip


async def test_receipt_transfer_and_reversal_keep_balances(client, admin, world, clock) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    b = await make_warehouse(client, admin, world.other_branch_id)
    posted = await receive(client, admin, part["id"], a["id"], 10)
    assert posted["movements"][0]["kind"] == "receipt"
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 10
    t0 = clock.now()
    clock.set(clock.now() + timedelta(minutes=5))

    r = await client.post("/v1/stock/transfers", headers=admin, json={
        "part_id": part["id"], "from_warehouse_id": a["id"], "to_warehouse_id": b["id"],
        "quantity": 4})  # fmt: skip
    assert r.status_code == 201, r.text
    transfer = r.json()
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 6
    assert (await _balance(client, admin, part["id"], b["id"]))["in_transit"] == 4
    r = await client.post(f"/v1/stock/transfers/{transfer['id']}/receive", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "received"
    again = await client.post(f"/v1/stock/transfers/{transfer['id']}/receive", headers=admin)
    problem(again, 409)
    bal_b = await _balance(client, admin, part["id"], b["id"])
    assert (bal_b["on_hand"], bal_b["in_transit"]) == (4, 0)

    # As of before the transfer: all ten in A, nothing at B.
    r = await client.get(f"/v1/parts/{part['id']}/stock",
                         params={"as_of": t0.isoformat()}, headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["on_hand"] == 10
    assert [w["warehouse_id"] for w in r.json()["warehouses"]] == [a["id"]]

    # A reversal of the receipt would take A to -4: refused whole, nothing written.
    r = await client.post(f"/v1/stock/postings/{posted['batch_id']}/reversal",
                          json={"reason": "录入错误"}, headers=admin)  # fmt: skip
    body = problem(r, 409)
    assert body["available"] == 6
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 6

    # An adjustment needs a reason; then it is reversible once.
    r = await client.post("/v1/stock/adjustments", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": -2})  # fmt: skip
    problem(r, 422)
    r = await client.post("/v1/stock/adjustments", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": -2,
        "reason": "盘点少 2 件"})  # fmt: skip
    assert r.status_code == 201, r.text
    adj = r.json()["batch_id"]
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 4
    r = await client.post(f"/v1/stock/postings/{adj}/reversal", json={"reason": "找到了"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["movements"][0]["reverses_id"]
    r = await client.post(f"/v1/stock/postings/{adj}/reversal", json={"reason": "again"},
                          headers=admin)  # fmt: skip
    problem(r, 409)
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 6


async def test_serial_is_in_one_place_and_its_past_is_known(client, admin, world, clock) -> None:
    part = await make_part(client, admin, serialised=True)
    a = await make_warehouse(client, admin, world.branch_id)
    b = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], a["id"], 2, serials=["SN-A1", "SN-A2"])
    t_in_a = clock.now()
    clock.set(clock.now() + timedelta(hours=1))
    # The same serial received again (anywhere) is refused: it is in stock already.
    r = await client.post("/v1/stock/receipts", headers=admin, json={
        "part_id": part["id"], "warehouse_id": b["id"], "quantity": 1, "serials": ["SN-A1"]})  # fmt: skip
    problem(r, 409)
    r = await client.post("/v1/stock/receipts", headers=admin, json={
        "part_id": part["id"], "warehouse_id": b["id"], "quantity": 2, "serials": ["X"]})  # fmt: skip
    problem(r, 422)
    r = await client.post("/v1/stock/transfers", headers=admin, json={
        "part_id": part["id"], "from_warehouse_id": a["id"], "to_warehouse_id": b["id"],
        "quantity": 1, "serials": ["SN-A1"]})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.get("/v1/serials", params={"serial": "SN-A1"}, headers=admin)
    [now] = r.json()["items"]
    assert now["place"]["place"] == "in_transit" and now["place"]["warehouse_id"] == b["id"]
    r = await client.get("/v1/serials", params={"serial": "SN-A1", "as_of": t_in_a.isoformat(),
                                                "history": "true"}, headers=admin)  # fmt: skip
    [then] = r.json()["items"]
    assert then["place"]["place"] == "warehouse" and then["place"]["warehouse_id"] == a["id"]
    assert [m["kind"] for m in then["history"]] == ["receipt", "transfer_out", "transfer_out"]
    # Scrapping a serial that is not there is refused.
    r = await client.post("/v1/stock/scrap", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": 1, "serials": ["SN-A1"],
        "reason": "损坏"})  # fmt: skip
    problem(r, 409)
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 1


async def test_defective_returns_and_scrap(client, admin, world) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    r = await client.post("/v1/stock/returns", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": 3,
        "condition": "defective"})  # fmt: skip
    assert r.status_code == 201, r.text
    bal = await _balance(client, admin, part["id"], a["id"])
    assert (bal["on_hand"], bal["defective"]) == (0, 3)
    r = await client.post("/v1/stock/scrap", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": 4, "source": "defective",
        "reason": "报废"})  # fmt: skip
    problem(r, 409)
    r = await client.post("/v1/stock/scrap", headers=admin, json={
        "part_id": part["id"], "warehouse_id": a["id"], "quantity": 3, "source": "defective",
        "reason": "报废"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert (await _balance(client, admin, part["id"], a["id"]))["defective"] == 0


async def test_low_stock_raises_one_event_per_crossing(client, admin, world) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    central = await make_warehouse(client, admin, world.branch_id, kind="central")
    await receive(client, admin, part["id"], a["id"], 5)
    await receive(client, admin, part["id"], central["id"], 50)
    r = await client.put(f"/v1/stock/balances/{part['id']}/{a['id']}/levels", headers=admin,
                         json={"reorder_point": 3, "target_level": 6})  # fmt: skip
    assert r.status_code == 200, r.text

    async def scrap(n: int) -> None:
        r = await client.post("/v1/stock/scrap", headers=admin, json={
            "part_id": part["id"], "warehouse_id": a["id"], "quantity": n, "reason": "x"})  # fmt: skip
        assert r.status_code == 201, r.text

    await scrap(3)  # 2 < 3: low
    await scrap(1)  # still low: no second event
    await receive(client, admin, part["id"], a["id"], 5)  # 6: recovered
    await scrap(4)  # 2: low again
    from sqlalchemy import text

    from app.core.db import open_uow

    async with open_uow() as uow:
        rows = (await uow.session.execute(text(
            "SELECT event_type, payload FROM outbox WHERE event_type LIKE 'stock.%' "
            "ORDER BY created_at, id"))).all()  # fmt: skip
    assert [r[0] for r in rows] == ["stock.low", "stock.recovered", "stock.low"]
    suggestion = rows[0][1]["suggestion"]
    assert suggestion == {"action": "transfer", "from_warehouse_id": central["id"], "quantity": 4}


async def test_ledger_refuses_update_and_delete_from_a_raw_connection(
    client, admin, world, services
) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], a["id"], 1)
    conn = await asyncpg.connect(_plain_dsn(services["database_url"]))
    try:
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("UPDATE stock_movements SET quantity = 100")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM stock_movements")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("TRUNCATE stock_movements CASCADE")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE stock_balances SET reserved = on_hand + 1")
        assert await conn.fetchval("SELECT sum(quantity) FROM stock_movements") == 1
    finally:
        await conn.close()


async def test_refusals_and_hostile_input(client, admin, world) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    base = {"part_id": part["id"], "warehouse_id": a["id"], "quantity": 1}
    for bad in (
        {**base, "quantity": 0}, {**base, "quantity": "many"}, {**base, "part_id": "x"},
        {**base, "reason": "a\x00b"}, {**base, "reason": "长" * 100_000},
        {**base, "serials": ["A"]}, {**base, "warehouse_id": "0192f3c4-0000-7000-8000-000000000000"},
        {**base, "part_id": "0192f3c4-0000-7000-8000-000000000000"}, {**base, "loaner": True},
    ):  # fmt: skip
        r = await client.post("/v1/stock/receipts", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = await client.get("/v1/stock/movements", params={"cursor": "!!"}, headers=admin)
    problem(r, 400)
    r = await client.get("/v1/stock/balances", params={"cursor": "abc"}, headers=admin)
    problem(r, 400)
    r = await client.post("/v1/stock/postings/0192f3c4-0000-7000-8000-000000000000/reversal",
                          json={"reason": "x"}, headers=admin)  # fmt: skip
    problem(r, 404)
    r = await client.get(f"/v1/parts/{part['id']}/stock", params={"as_of": "2026-01-01T00:00:00"},
                         headers=admin)  # fmt: skip
    problem(r, 400)


async def test_concurrent_scraps_never_oversell(client, admin, world) -> None:
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], a["id"], 5)

    async def one() -> int:
        r = await client.post("/v1/stock/scrap", headers=admin, json={
            "part_id": part["id"], "warehouse_id": a["id"], "quantity": 1, "reason": "x"})  # fmt: skip
        return r.status_code

    codes = await asyncio.gather(*(one() for _ in range(12)))
    assert sorted(codes) == [201] * 5 + [409] * 7
    assert (await _balance(client, admin, part["id"], a["id"]))["on_hand"] == 0


async def test_stock_check_reports_a_balance_that_differs(client, admin, world, services) -> None:
    """The console command, run as users run it, on this test's database."""
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    await receive(client, admin, part["id"], a["id"], 3)

    async def check() -> tuple[int, str]:
        env = {**os.environ, "DATABASE_URL": services["database_url"]}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "stock-check", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    rc, out = await check()
    assert rc == 0 and "stock-check: ok: 1 ledger rows, 1 balances" in out, out
    conn = await asyncpg.connect(_plain_dsn(services["database_url"]))
    try:
        await conn.execute("UPDATE stock_balances SET on_hand = on_hand + 1")
        rc, out = await check()
        assert rc == 1 and "balance differs from the ledger" in out, out
        await conn.execute("UPDATE stock_balances SET on_hand = on_hand - 1")
    finally:
        await conn.close()


async def test_part_stock_from_sql_reads_as_the_models_write(client, admin, world, clock) -> None:
    """GET /v1/parts/{id}/stock is built by PostgreSQL; each row must read exactly as
    the same balance does through the models (GET /v1/stock/balances)."""
    part = await make_part(client, admin)
    a = await make_warehouse(client, admin, world.branch_id)
    b = await make_warehouse(client, admin, world.branch_id)
    clock.set(clock.now().replace(microsecond=0))  # a timestamp with no fraction too
    await receive(client, admin, part["id"], a["id"], 3)
    clock.set(clock.now() + timedelta(microseconds=120))
    await receive(client, admin, part["id"], b["id"], 2)
    r = await client.put(f"/v1/stock/balances/{part['id']}/{a['id']}/levels", headers=admin,
                         json={"reorder_point": 1, "target_level": 4})  # fmt: skip
    assert r.status_code == 200
    sql = (await client.get(f"/v1/parts/{part['id']}/stock", headers=admin)).json()
    models = (await client.get("/v1/stock/balances", params={"part_id": part["id"]},
                               headers=admin)).json()["items"]  # fmt: skip
    assert sql["warehouses"] == sorted(models, key=lambda m: m["warehouse_id"])
    assert sql["totals"] == {"on_hand": 5, "reserved": 0, "available": 5, "defective": 0,
                             "in_transit": 0, "loaners": 0}  # fmt: skip
    r = await client.get("/v1/parts/0192f3c4-0000-7000-8000-000000000000/stock", headers=admin)
    problem(r, 404)
