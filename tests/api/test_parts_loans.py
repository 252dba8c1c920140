"""Loaner units (备机) through the API on real PostgreSQL: the loaner pool, lending
against a ticket (once per serial, whatever the interleaving), return, sale, write-off,
extension, the due-soon and overdue timers with a pinned clock, branch scope and hostile
input. Stock is checked in the balances and in where each serial is."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.db import open_uow
from app.parts.models import Loan, Part, PartRequest, Reservation
from app.parts.service import ledger
from app.parts.service.loans import business_date, overdue_at, reminder_at
from app.timers import firing
from tests.api.conftest import create_ticket, problem, ticket_events
from tests.api.partskit import make_part, make_warehouse, receive
from tests.conftest import issue_key
from tests.factories import World


@pytest.fixture
def clock_start() -> datetime:
    """Today 10:00 in Shanghai (02:00 UTC): the business date is the UTC date."""
    return datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)


def _number(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


# --- reading stock back -------------------------------------------------------------


async def _stock(client: httpx.AsyncClient, admin: dict[str, str], part_id: Any, wh_id: Any,
                 numbers: list[str], loaner: bool = True) -> list[str]:  # fmt: skip
    """Serials received into a warehouse (its loaner pool, or good stock): their ids."""
    posting = await receive(client, admin, part_id, wh_id, len(numbers), numbers, loaner=loaner)
    return [str(m["serial_id"]) for m in posting["movements"]]


async def _balance(part_id: Any, wh_id: Any) -> dict[str, int]:
    async with open_uow() as uow:
        row = (await uow.session.execute(text(
            "SELECT on_hand, reserved, defective, loaners FROM stock_balances"
            " WHERE part_id = :p AND warehouse_id = :w"), {"p": str(part_id), "w": str(wh_id)},
        )).mappings().one_or_none()  # fmt: skip
    return dict(row) if row else {"on_hand": 0, "reserved": 0, "defective": 0, "loaners": 0}


async def _serial(serial_id: Any) -> dict[str, Any]:
    async with open_uow() as uow:
        row = (await uow.session.execute(text(
            "SELECT place, condition, warehouse_id, customer_id, loaner FROM part_serials"
            " WHERE id = :i"), {"i": str(serial_id)},
        )).mappings().one()  # fmt: skip
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}


async def _consistent() -> None:
    """Every balance agrees with its ledger rows, every serial with its last row."""
    from app.parts.repository.stock import SERIAL_CHECK_SQL, STOCK_CHECK_SQL

    async with open_uow() as uow:
        for sql in (STOCK_CHECK_SQL, SERIAL_CHECK_SQL):
            assert (await uow.session.execute(text(sql))).all() == []


async def _scalar(sql: str, **params: Any) -> Any:
    async with open_uow() as uow:
        return (await uow.session.execute(text(sql), params)).scalar()


async def _outbox(event_type: str, loan_id: str) -> list[dict[str, Any]]:
    async with open_uow() as uow:
        rows = (await uow.session.execute(text(
            "SELECT payload FROM outbox WHERE event_type = :t AND aggregate_type = 'loan'"
            " AND aggregate_id = :a ORDER BY id"), {"t": event_type, "a": loan_id},
        )).scalars().all()  # fmt: skip
    return [dict(r) for r in rows]


async def _pending(kind: str, loan_id: str) -> datetime | None:
    return await _scalar(  # type: ignore[no-any-return]
        "SELECT due_at FROM timers WHERE kind = :k AND subject_id = :s AND state = 'pending'",
        k=kind, s=loan_id,
    )  # fmt: skip


async def _fire(kind: str) -> int:
    import app.parts.timers  # noqa: F401  (registered by the worker)

    async with open_uow() as uow:
        ids = list((await uow.session.execute(
            text("SELECT id FROM timers WHERE kind = :k AND state = 'pending'"), {"k": kind}
        )).scalars())  # fmt: skip
    if not ids:
        return 0
    async with open_uow() as uow:
        return (await firing.fire_due(uow, 100, ids=ids)).fired


@dataclass
class Shop:
    """A serialised part, two warehouses of the world's branch, loaners in the first,
    and an open ticket; `h` is a branch engineer's key."""

    part: str
    wh: str
    wh2: str
    loaners: list[str]
    ticket: dict[str, Any]
    h: dict[str, str]
    world: World


@pytest.fixture
async def shop(client: httpx.AsyncClient, admin: dict[str, str], world: World) -> Shop:
    part = await make_part(client, admin, serialised=True, name="主控板", unit_cost="8000.00")
    wh = await make_warehouse(client, admin, world.branch_id)
    wh2 = await make_warehouse(client, admin, world.branch_id)
    loaners = await _stock(client, admin, part["id"], wh["id"], [_number("LN"), _number("LN")])
    h = await issue_key("engineer", world.branch_id)
    ticket = await create_ticket(client, admin, world)
    return Shop(part=part["id"], wh=wh["id"], wh2=wh2["id"], loaners=loaners, ticket=ticket,
                h=h, world=world)  # fmt: skip


def _due(clock: FixedClock, days: int) -> str:
    return (business_date(clock.now()) + timedelta(days=days)).isoformat()


async def _lend(client: httpx.AsyncClient, s: Shop, clock: FixedClock, serial: str | None = None,
                days: int = 7, **kw: Any) -> httpx.Response:  # fmt: skip
    body = {"serial_id": serial or s.loaners[0], "ticket_id": s.ticket["id"],
            "due_back_on": _due(clock, days), **kw}  # fmt: skip
    return await client.post("/v1/loans", json=body, headers=s.h)


async def _return(client: httpx.AsyncClient, s: Shop, loan: dict[str, Any], wh: str,
                  condition: str) -> httpx.Response:  # fmt: skip
    body = {"warehouse_id": wh, "condition": condition}
    return await client.post(f"/v1/loans/{loan['id']}/return", json=body, headers=s.h)


# --- the loaner pool ----------------------------------------------------------------


async def test_a_good_serial_joins_the_pool_and_leaves_it(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    [good] = await _stock(client, admin, s.part, s.wh, [_number("G")], loaner=False)
    assert await _balance(s.part, s.wh) == {"on_hand": 1, "reserved": 0, "defective": 0,
                                            "loaners": 2}  # fmt: skip
    r = await client.post("/v1/loaner-pool", json={"serial_id": good, "join": True}, headers=s.h)
    assert r.status_code == 200, r.text
    assert r.json() | {"serial": None} == {
        "serial_id": good, "serial": None, "part_id": s.part, "warehouse_id": s.wh,
        "loaner": True, "changed": True, "on_hand": 0, "reserved": 0, "loaners": 3,
    }  # fmt: skip
    assert (await _serial(good))["loaner"] is True
    assert await _scalar("SELECT count(*) FROM stock_movements WHERE kind = 'pool_in'") == 2
    # Asked again: it is there already, nothing is posted.
    again = await client.post("/v1/loaner-pool", json={"serial_id": good, "join": True},
                              headers=s.h)  # fmt: skip
    assert again.status_code == 200 and again.json()["changed"] is False
    assert await _scalar("SELECT count(*) FROM stock_movements WHERE kind = 'pool_in'") == 2
    # A lent loaner cannot leave the pool; an idle one can.
    lent = await _lend(client, s, clock, serial=good)
    assert lent.status_code == 201, lent.text
    out = await client.post("/v1/loaner-pool", json={"serial_id": good, "join": False},
                            headers=s.h)  # fmt: skip
    problem(out, 409)
    r = await client.post("/v1/loaner-pool", json={"serial_id": s.loaners[1], "join": False},
                          headers=s.h)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["loaner"], r.json()["on_hand"], r.json()["loaners"]) == (False, 1, 1)
    assert await _balance(s.part, s.wh) == {"on_hand": 1, "reserved": 0, "defective": 0,
                                            "loaners": 1}  # fmt: skip
    await _consistent()
    assert await _serial(s.loaners[1]) == {"place": "warehouse", "condition": "good",
                                           "warehouse_id": s.wh, "customer_id": None,
                                           "loaner": False}  # fmt: skip


async def test_a_reserved_or_foreign_serial_cannot_join(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop
) -> None:
    s = shop
    [good] = await _stock(client, admin, s.part, s.wh, [_number("R")], loaner=False)
    async with open_uow() as uow:
        request = PartRequest(
            number=f"PR-T{uuid.uuid4().hex[:8]}", ticket_id=uuid.UUID(s.ticket["id"]),
            branch_id=s.world.branch_id, part_id=uuid.UUID(s.part), quantity=1,
            warehouse_id=uuid.UUID(s.wh), destination="site", state="approved", value=Decimal(8000),
            currency="CNY", created_by="test",
        )  # fmt: skip
        uow.session.add(request)
        await uow.session.flush()
        uow.session.add(Reservation(request_id=request.id, part_id=request.part_id,
                                    warehouse_id=request.warehouse_id,
                                    serial_id=uuid.UUID(good), quantity=1))  # fmt: skip
        part = await uow.session.get(Part, request.part_id)
        assert part is not None
        await ledger.hold(uow, part, request.warehouse_id, 1)
    r = await client.post("/v1/loaner-pool", json={"serial_id": good, "join": True}, headers=s.h)
    assert "reserved" in problem(r, 409)["detail"]
    assert (await _serial(good))["loaner"] is False
    # Another branch's warehouse is not this key's to move stock in.
    other = await make_warehouse(client, admin, s.world.other_branch_id)
    [far] = await _stock(client, admin, s.part, other["id"], [_number("F")], loaner=False)
    r = await client.post("/v1/loaner-pool", json={"serial_id": far, "join": True}, headers=s.h)
    problem(r, 422, "serial_id")
    # Unknown serial, wrong types.
    r = await client.post("/v1/loaner-pool", json={"serial_id": str(uuid.uuid4()), "join": True},
                          headers=s.h)  # fmt: skip
    problem(r, 422, "serial_id")
    r = await client.post("/v1/loaner-pool", json={"serial_id": good, "join": "maybe"},
                          headers=s.h)  # fmt: skip
    problem(r, 422, "join")


# --- lending and its ends -----------------------------------------------------------


async def test_lend_and_return_into_another_warehouse(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    r = await _lend(client, s, clock, note="主控板返修期间借用")
    assert r.status_code == 201, r.text
    loan = r.json()
    assert r.headers["ETag"] == 'W/"1"'
    assert {k: loan[k] for k in ("serial_id", "part_id", "warehouse_id", "customer_id",
                                 "ticket_id", "state", "overdue", "due_back_on")} == {
        "serial_id": s.loaners[0], "part_id": s.part, "warehouse_id": s.wh,
        "customer_id": str(s.world.customer_id), "ticket_id": s.ticket["id"], "state": "out",
        "overdue": False, "due_back_on": _due(clock, 7),
    }  # fmt: skip
    assert loan["serial"].startswith("LN") and loan["part_number"].startswith("P-")
    assert await _balance(s.part, s.wh) == {"on_hand": 0, "reserved": 0, "defective": 0,
                                            "loaners": 1}  # fmt: skip
    assert await _serial(s.loaners[0]) == {"place": "customer", "condition": "good",
                                           "warehouse_id": None,
                                           "customer_id": str(s.world.customer_id),
                                           "loaner": True}  # fmt: skip
    # Who holds which loaner, since when, due back when: one call.
    listed = await client.get("/v1/loans", params={"ticket_id": s.ticket["id"]}, headers=s.h)
    assert [i["id"] for i in listed.json()["items"]] == [loan["id"]]
    by_customer = await client.get("/v1/loans", params={"customer_id": str(s.world.customer_id),
                                                        "state": "out"}, headers=s.h)  # fmt: skip
    assert by_customer.json()["items"][0]["lent_at"] == loan["lent_at"]
    assert (await client.get(f"/v1/loans/{loan['id']}", headers=s.h)).json() == loan
    assert [e["type"] for e in await ticket_events(client, admin, s.ticket["id"])].count(
        "loan.lent"
    ) == 1
    assert (await _outbox("loan.lent", loan["id"]))[0]["serial_id"] == s.loaners[0]
    assert await _pending("parts.loan_overdue", loan["id"]) is not None

    r = await _return(client, s, loan, s.wh2, "good")
    assert r.status_code == 200, r.text
    back = r.json()
    assert (back["state"], back["returned_to_id"], back["return_condition"]) == (
        "returned", s.wh2, "good")  # fmt: skip
    assert back["ended_at"] is not None and back["version"] == 2
    assert await _balance(s.part, s.wh2) == {"on_hand": 0, "reserved": 0, "defective": 0,
                                             "loaners": 1}  # fmt: skip
    assert await _serial(s.loaners[0]) == {"place": "warehouse", "condition": "good",
                                           "warehouse_id": s.wh2, "customer_id": None,
                                           "loaner": True}  # fmt: skip
    assert await _pending("parts.loan_overdue", loan["id"]) is None
    assert await _pending("parts.loan_reminder", loan["id"]) is None
    assert len(await _outbox("loan.returned", loan["id"])) == 1
    # Ended: no second return, no sale, no extension.
    again = await _return(client, s, loan, s.wh, "good")
    assert problem(again, 409)["current_state"] == "returned"
    problem(await client.post(f"/v1/loans/{loan['id']}/sell", json={}, headers=s.h), 409)
    problem(await client.patch(f"/v1/loans/{loan['id']}", json={"due_back_on": _due(clock, 9)},
                               headers=s.h), 409)  # fmt: skip
    # Back in a pool, it can go out again.
    assert (await _lend(client, s, clock)).status_code == 201
    await _consistent()


async def test_a_defective_return_leaves_the_pool(
    client: httpx.AsyncClient, shop: Shop, clock: FixedClock
) -> None:
    s = shop
    loan = (await _lend(client, s, clock)).json()
    r = await _return(client, s, loan, s.wh, "defective")
    assert r.status_code == 200, r.text
    assert await _balance(s.part, s.wh) == {"on_hand": 0, "reserved": 0, "defective": 1,
                                            "loaners": 1}  # fmt: skip
    assert await _serial(s.loaners[0]) == {"place": "warehouse", "condition": "defective",
                                           "warehouse_id": s.wh, "customer_id": None,
                                           "loaner": False}  # fmt: skip
    # A defective unit is no loaner: it cannot go out again.
    problem(await _lend(client, s, clock), 409)
    await _consistent()


async def test_sold_and_written_off(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    sold = (await _lend(client, s, clock)).json()
    lost = (await _lend(client, s, clock, serial=s.loaners[1])).json()
    before = await _balance(s.part, s.wh)
    assert before["loaners"] == 0

    r = await client.post(f"/v1/loans/{sold['id']}/sell", json={"note": "客户购买"}, headers=s.h)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["end_reason"]) == ("sold", "客户购买")
    assert await _serial(s.loaners[0]) == {"place": "customer", "condition": "good",
                                           "warehouse_id": None,
                                           "customer_id": str(s.world.customer_id),
                                           "loaner": False}  # fmt: skip
    # A write-off needs its reason.
    problem(await client.post(f"/v1/loans/{lost['id']}/write-off", json={}, headers=s.h), 422,
            "reason")  # fmt: skip
    r = await client.post(f"/v1/loans/{lost['id']}/write-off", json={"reason": "客户现场丢失"},
                          headers=s.h)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "written_off"
    assert (await _serial(s.loaners[1]))["place"] == "scrapped"
    # Neither moves stock: the units left with the loans.
    assert await _balance(s.part, s.wh) == before
    kinds = await _scalar(
        "SELECT string_agg(kind || ':' || quantity, ',' ORDER BY seq) FROM stock_movements"
        " WHERE loan_id IS NOT NULL"
    )
    assert kinds == "loan_out:-1,loan_out:-1,loan_sold:0,loan_written_off:0"
    types = [e["type"] for e in await ticket_events(client, admin, s.ticket["id"])]
    assert {"loan.lent", "loan.sold", "loan.written_off"} <= set(types)
    assert len(await _outbox("loan.written_off", lost["id"])) == 1
    await _consistent()


async def test_no_loan_on_an_ended_ticket_nor_a_stranger(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    r = await client.post(f"/v1/tickets/{s.ticket['id']}/cancel", json={"reason": "重复工单"},
                          headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    problem(await _lend(client, s, clock), 409)
    other = await create_ticket(client, admin, s.world, customer_id=str(s.world.other_customer_id),
                                contact_id=str(s.world.other_contact_id),
                                device_id=str(s.world.other_device_id))  # fmt: skip
    # Another branch's ticket is unknown to this key.
    problem(await _lend(client, s, clock, ticket_id=other["id"]), 422, "ticket_id")
    problem(await _lend(client, s, clock, ticket_id=str(uuid.uuid4())), 422, "ticket_id")
    assert await _scalar("SELECT count(*) FROM loans") == 0


# --- once per serial ----------------------------------------------------------------


async def test_the_same_lend_twice_at_once_makes_one_loan(
    client: httpx.AsyncClient, shop: Shop, clock: FixedClock
) -> None:
    """Decided: the same body again (no Idempotency-Key) is the same lend, answered 200
    with the open loan; the ticket's lock orders the two, so exactly one answers 201."""
    s = shop
    first, second = await asyncio.gather(_lend(client, s, clock), _lend(client, s, clock))
    assert sorted([first.status_code, second.status_code]) == [200, 201], (first.text,
                                                                           second.text)  # fmt: skip
    assert first.json()["id"] == second.json()["id"]
    assert await _scalar("SELECT count(*) FROM loans") == 1
    assert await _scalar("SELECT count(*) FROM stock_movements WHERE kind = 'loan_out'") == 1
    assert (await _balance(s.part, s.wh))["loaners"] == 1
    # Later, the same again: 200, the same loan. Another due date is another lend: 409.
    later = await _lend(client, s, clock)
    assert (later.status_code, later.json()["id"]) == (200, first.json()["id"])
    problem(await _lend(client, s, clock, days=8), 409)
    # With a key: the stored answer is replayed.
    key = {"Idempotency-Key": f"lend-{uuid.uuid4()}"}
    body = {"serial_id": s.loaners[1], "ticket_id": s.ticket["id"],
            "due_back_on": _due(clock, 3)}  # fmt: skip
    a = await client.post("/v1/loans", json=body, headers=s.h | key)
    b = await client.post("/v1/loans", json=body, headers=s.h | key)
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.headers.get("Idempotent-Replayed") == "true" and a.json() == b.json()
    assert await _scalar("SELECT count(*) FROM loans") == 2


async def test_two_tickets_race_for_one_loaner(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    other = await create_ticket(client, admin, s.world)
    one, two = await asyncio.gather(
        _lend(client, s, clock), _lend(client, s, clock, ticket_id=other["id"])
    )
    results = sorted([one, two], key=lambda r: r.status_code)
    assert [r.status_code for r in results] == [201, 409], (one.text, two.text)
    winner, loser = results[0].json(), problem(results[1], 409)
    assert loser["type"].endswith("/loaner-held")
    assert (loser["loan_id"], loser["ticket_id"]) == (winner["id"], winner["ticket_id"])
    assert loser["ticket_number"] in loser["detail"]
    assert await _scalar("SELECT count(*) FROM loans") == 1
    assert await _scalar("SELECT count(*) FROM stock_movements WHERE kind = 'loan_out'") == 1
    assert (await _serial(s.loaners[0]))["place"] == "customer"
    await _consistent()


# --- due dates and timers -----------------------------------------------------------


async def test_reminder_and_overdue_fire_once_and_an_extension_moves_them(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    loan = (await _lend(client, s, clock, days=3)).json()
    due = date.fromisoformat(loan["due_back_on"])
    remind_at = await _pending("parts.loan_reminder", loan["id"])
    overdue_at_ = await _pending("parts.loan_overdue", loan["id"])
    assert remind_at is not None and overdue_at_ is not None
    # The due date begins at 00:00 Shanghai (16:00 UTC the day before); 24 hours earlier.
    shanghai = remind_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (shanghai.date(), shanghai.hour) == (due - timedelta(days=1), 0)
    assert overdue_at_.astimezone(shanghai.tzinfo).date() == due + timedelta(days=1)

    assert await _fire("parts.loan_reminder") == 0  # not due yet
    clock.set(remind_at + timedelta(seconds=1))
    assert await _fire("parts.loan_reminder") == 1
    assert await _fire("parts.loan_reminder") == 0
    got = (await client.get(f"/v1/loans/{loan['id']}", headers=s.h)).json()
    assert got["reminded_at"] is not None and got["overdue"] is False
    assert len(await _outbox("loan.due_soon", loan["id"])) == 1

    clock.set(overdue_at_ - timedelta(seconds=1))
    assert (await client.get(f"/v1/loans/{loan['id']}", headers=s.h)).json()["overdue"] is False
    clock.set(overdue_at_ + timedelta(seconds=1))
    assert await _fire("parts.loan_overdue") == 1
    got = (await client.get(f"/v1/loans/{loan['id']}", headers=s.h)).json()
    assert got["overdue"] is True and got["overdue_noticed_at"] is not None
    overdue = await client.get("/v1/loans", params={"overdue": "true"}, headers=s.h)
    assert [i["id"] for i in overdue.json()["items"]] == [loan["id"]]
    not_overdue = await client.get("/v1/loans", params={"overdue": "false"}, headers=s.h)
    assert not_overdue.json()["items"] == []
    types = [e["type"] for e in await ticket_events(client, admin, s.ticket["id"])]
    assert types.count("loan.due_soon") == 1 and types.count("loan.overdue") == 1
    assert (await _outbox("loan.overdue", loan["id"]))[0]["due_back_on"] == due.isoformat()

    # Extended (If-Match checked when sent): no longer overdue, the timers moved.
    stale = await client.patch(f"/v1/loans/{loan['id']}", json={"due_back_on": _due(clock, 5)},
                               headers=s.h | {"If-Match": 'W/"1"'})  # fmt: skip
    problem(stale, 412)
    earlier = await client.patch(f"/v1/loans/{loan['id']}",
                                 json={"due_back_on": (due - timedelta(days=1)).isoformat()},
                                 headers=s.h)  # fmt: skip
    problem(earlier, 422, "due_back_on")
    r = await client.patch(f"/v1/loans/{loan['id']}", json={"due_back_on": _due(clock, 5)},
                           headers=s.h | {"If-Match": f'W/"{got["version"]}"'})  # fmt: skip
    assert r.status_code == 200, r.text
    extended = r.json()
    assert (extended["overdue"], extended["reminded_at"], extended["overdue_noticed_at"]) == (
        False, None, None)  # fmt: skip
    assert r.headers["ETag"] == f'W/"{extended["version"]}"'
    assert len(await _outbox("loan.extended", loan["id"])) == 1
    new_remind = await _pending("parts.loan_reminder", loan["id"])
    assert new_remind is not None and new_remind > clock.now()
    assert await _fire("parts.loan_overdue") == 0

    # Returned before the new date: the timers are cancelled; run anyway, they say nothing.
    await _return(client, s, loan, s.wh, "good")
    assert await _pending("parts.loan_reminder", loan["id"]) is None
    from app.parts.service import loans as service

    async with open_uow() as uow:
        lid = uuid.UUID(loan["id"])
        far = clock.now() + timedelta(days=30)
        assert await service.reminder_due(uow, lid, far) is None
        assert await service.overdue_due(uow, lid, far) is None
    assert len(await _outbox("loan.due_soon", loan["id"])) == 1
    assert len(await _outbox("loan.overdue", loan["id"])) == 1


async def test_a_loan_due_today_gets_no_late_reminder(
    client: httpx.AsyncClient, shop: Shop, clock: FixedClock
) -> None:
    loan = (await _lend(client, shop, clock, days=0)).json()
    assert await _pending("parts.loan_reminder", loan["id"]) is None
    async with open_uow() as uow:
        row = await uow.session.get(Loan, uuid.UUID(loan["id"]))
        assert row is not None and reminder_at(row) < clock.now() < overdue_at(row)
    assert await _pending("parts.loan_overdue", loan["id"]) is not None


# --- scope and hostile input --------------------------------------------------------


async def test_another_branchs_loan_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str], shop: Shop, clock: FixedClock
) -> None:
    s = shop
    loan = (await _lend(client, s, clock)).json()
    stranger = await issue_key("manager", s.world.other_branch_id)
    problem(await client.get(f"/v1/loans/{loan['id']}", headers=stranger), 404)
    for path, body in (("return", {"warehouse_id": s.wh, "condition": "good"}),
                       ("sell", {}), ("write-off", {"reason": "丢失"})):  # fmt: skip
        problem(await client.post(f"/v1/loans/{loan['id']}/{path}", json=body, headers=stranger),
                404)  # fmt: skip
    problem(await client.patch(f"/v1/loans/{loan['id']}", json={"due_back_on": _due(clock, 9)},
                               headers=stranger), 404)  # fmt: skip
    assert (await client.get("/v1/loans", headers=stranger)).json()["items"] == []
    # Nor does this key return a loaner into another branch's warehouse.
    far = await make_warehouse(client, admin, s.world.other_branch_id)
    r = await _return(client, s, loan, far["id"], "good")
    problem(r, 422, "warehouse_id")
    assert (await client.get(f"/v1/loans/{loan['id']}", headers=s.h)).json()["state"] == "out"
    # An agent reads loans but does not lend.
    agent = await issue_key("agent", s.world.branch_id)
    assert (await client.get(f"/v1/loans/{loan['id']}", headers=agent)).status_code == 200
    problem(await client.post(f"/v1/loans/{loan['id']}/sell", json={}, headers=agent), 403)


@pytest.mark.parametrize(
    "patch",
    [
        {"note": "x\u0000y"},
        {"note": "长" * 2001},
        {"serial_id": "not-a-uuid"},
        {"serial_id": 12},
        {"ticket_id": None},
        {"due_back_on": "2026-02-30"},
        {"due_back_on": "tomorrow"},
        {"due_back_on": "1999-01-01"},
        {"due_back_on": "2999-01-01"},
        {"extra": 1},
    ],
)
async def test_hostile_lends_are_4xx(
    client: httpx.AsyncClient, shop: Shop, clock: FixedClock, patch: dict[str, Any]
) -> None:
    s = shop
    body = {"serial_id": s.loaners[0], "ticket_id": s.ticket["id"],
            "due_back_on": _due(clock, 7), **patch}  # fmt: skip
    r = await client.post("/v1/loans", json=body, headers=s.h)
    assert r.status_code == 422, r.text
    assert await _scalar("SELECT count(*) FROM loans") == 0


async def test_hostile_reads_and_actions_are_4xx(
    client: httpx.AsyncClient, shop: Shop, clock: FixedClock
) -> None:
    s = shop
    loan = (await _lend(client, s, clock)).json()
    lid = loan["id"]
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", "/v1/loans?state=lost", None, 422),
        ("GET", "/v1/loans?overdue=perhaps", None, 422),
        ("GET", "/v1/loans?cursor=%%%", None, 400),
        ("GET", "/v1/loans?customer_id=1", None, 422),
        ("GET", "/v1/loans/not-a-uuid", None, 422),
        ("GET", f"/v1/loans/{uuid.uuid4()}", None, 404),
        ("POST", f"/v1/loans/{lid}/return", {"warehouse_id": s.wh, "condition": "broken"}, 422),
        (
            "POST",
            f"/v1/loans/{lid}/return",
            {"warehouse_id": str(uuid.uuid4()), "condition": "good"},
            422,
        ),
        ("POST", f"/v1/loans/{lid}/write-off", {"reason": "   "}, 422),
        ("POST", f"/v1/loans/{lid}/write-off", {"reason": "a\u0007b"}, 422),
        ("POST", f"/v1/loans/{lid}/sell", {"note": ["x"]}, 422),
        ("PATCH", f"/v1/loans/{lid}", {"due_back_on": None}, 422),
        ("PATCH", f"/v1/loans/{lid}", {"due_back_on": "2999-01-01"}, 422),
        ("PATCH", f"/v1/loans/{lid}", {"due_back_on": _due(clock, 9)}, 400),  # bad If-Match
    ]
    for method, path, body, status in cases:
        headers = s.h | ({"If-Match": "nonsense"} if status == 400 and body else {})
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == status, (method, path, body, r.text)
    r = await client.post("/v1/loans", content=b'{"serial_id": ', headers=s.h | {
        "Content-Type": "application/json"})  # fmt: skip
    assert 400 <= r.status_code < 500
    got = (await client.get(f"/v1/loans/{lid}", headers=s.h)).json()
    assert (got["state"], got["version"]) == ("out", 1)
