"""The demo's spare parts, through the parts services: before the tickets, the
storekeeper's key, warehouses, the catalogue and its opening stock with its transfers to
the branch stores (dated a month back); during the stories, the part-request ops
(`run_part_op`); after the incident, the RMA of the board a story took off, a loaner
lent against an open ticket and a replenishment in transit.

Warehouses and parts are looked up by their codes and numbers first, and stock is
received only for parts this load created, so `--force` loads again over the stock the
first load left (the stories take their parts from it). What an earlier load already
moved on (the defective board sent to the vendor, the loaner lent) is not done twice."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.core.clock import FixedClock
from app.core.db import UnitOfWork
from app.core.pagination import PageParams
from app.core.security import Principal
from app.demo.context import DemoContext
from app.demo.data.parts import (
    LEVELS,
    LOAN,
    PARTS,
    RECEIPTS,
    REPLENISHMENT,
    RMA,
    STOCKED_DAYS_AGO,
    STORE_KEYS,
    TRANSFERS,
    WAREHOUSES,
)
from app.demo.keys import issue_keys

# The story ops this module runs (see `app.demo.data.stories.Op`).
PART_OPS = ("parts", "part_step", "fit", "defective-return")


async def step_parts(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The storekeeper's key, warehouses, parts, opening stock, its transfers to the
    branch stores and reorder levels."""
    from app.demo.tickets import pinned_clock

    await issue_keys(uow, ctx, STORE_KEYS)
    with pinned_clock(ctx.now - timedelta(days=STOCKED_DAYS_AGO)) as clock:
        await _create_warehouses(uow, ctx)
        created = await _create_parts(uow, ctx)
        await _receive_stock(uow, ctx, created)
        await _transfer_stock(uow, ctx, created, clock)
        await _set_levels(uow, ctx, created)


async def _contract_id(uow: UnitOfWork, admin: Principal, number: str) -> uuid.UUID:
    from app.contracts import service

    found = await service.list_contracts(uow, admin, PageParams(limit=1, after=None), number=number)
    return found.items[0].id


async def _warehouse_id(uow: UnitOfWork, code: str) -> uuid.UUID | None:
    from app.parts.service import catalogue

    page = await catalogue.list_warehouses(uow, PageParams(limit=10, after=None), q=code)
    return next((w.id for w in page.items if w.code == code), None)


async def _create_warehouses(uow: UnitOfWork, ctx: DemoContext) -> None:
    from app.parts.schemas.catalogue import WarehouseCreate
    from app.parts.service import catalogue

    admin = ctx.principals["admin"]
    for alias, code, name, name_en, kind, branch, contract, address in WAREHOUSES:
        found = await _warehouse_id(uow, code)
        if found is None:
            data = WarehouseCreate(
                code=code, name=name, name_en=name_en, kind=kind,  # type: ignore[arg-type]
                branch_id=ctx.ids[f"branch:{branch}"], address=address,
                contract_id=await _contract_id(uow, admin, contract) if contract else None,
            )  # fmt: skip
            found = (await catalogue.create_warehouse(uow, admin, data)).id
            ctx.count("warehouses")
        ctx.ids[f"warehouse:{alias}"] = found


async def _part_id(uow: UnitOfWork, number: str) -> uuid.UUID | None:
    from app.parts.service import catalogue

    page = await catalogue.list_parts(uow, PageParams(limit=10, after=None), q=number)
    return next((p.id for p in page.items if p.number == number), None)


async def _create_parts(uow: UnitOfWork, ctx: DemoContext) -> set[str]:
    """The parts (a substitute before the part it replaces); the aliases made now."""
    from app.parts.schemas.catalogue import PartCreate, PartFitIn
    from app.parts.service import catalogue

    created = set()
    for alias, number, name, name_en, description, cost, serialised, fits, sub in PARTS:
        found = await _part_id(uow, number)
        if found is None:
            data = PartCreate(
                number=number, name=name, name_en=name_en, description=description,
                unit_cost=Decimal(cost), currency="CNY", serialised=serialised,
                lifecycle="discontinued" if sub else "active",
                substitute_id=ctx.ids[f"part:{sub}"] if sub else None,
                fits=[PartFitIn(product_family=f, model=m) for f, m in fits],
            )  # fmt: skip
            found = (await catalogue.create_part(uow, data))[0].id
            created.add(alias)
            ctx.count("parts")
        ctx.ids[f"part:{alias}"] = found
    return created


async def _receive_stock(uow: UnitOfWork, ctx: DemoContext, created: set[str]) -> None:
    from app.parts.schemas.stock import ReceiptIn
    from app.parts.service import stock

    store = ctx.principals["store"]
    for part, warehouse, units, reason, loaner in RECEIPTS:
        if part not in created:
            continue  # a part of an earlier load: its stock is there already
        serials = units if isinstance(units, list) else None
        await stock.receive(uow, store, ReceiptIn(
            part_id=ctx.ids[f"part:{part}"], warehouse_id=ctx.ids[f"warehouse:{warehouse}"],
            quantity=len(serials) if serials else units, serials=serials, reason=reason,
            loaner=loaner,
        ))  # fmt: skip


async def _transfer_stock(
    uow: UnitOfWork, ctx: DemoContext, created: set[str], clock: FixedClock
) -> None:
    """The opening transfers: shipped the day after the receipts, received the next."""
    from app.parts.schemas.stock import TransferIn
    from app.parts.service import stock

    store, shipped = ctx.principals["store"], clock.now() + timedelta(days=1)
    for part, source, dest, units, reason in TRANSFERS:
        if part not in created:
            continue
        serials = units if isinstance(units, list) else None
        clock.set(shipped)
        sent = await stock.transfer(uow, store, TransferIn(
            part_id=ctx.ids[f"part:{part}"], from_warehouse_id=ctx.ids[f"warehouse:{source}"],
            to_warehouse_id=ctx.ids[f"warehouse:{dest}"],
            quantity=len(serials) if serials else units, serials=serials, reason=reason,
        ))  # fmt: skip
        clock.set(shipped + timedelta(days=1))
        await stock.receive_transfer(uow, store, sent.id)
        ctx.count("stock transfers")


async def _set_levels(uow: UnitOfWork, ctx: DemoContext, created: set[str]) -> None:
    from app.parts.schemas.stock import LevelsIn
    from app.parts.service import stock

    for part, warehouse, reorder_point, target_level in LEVELS:
        if part in created:
            await stock.set_levels(uow, ctx.principals["store"], ctx.ids[f"part:{part}"],
                                   ctx.ids[f"warehouse:{warehouse}"],
                                   LevelsIn(reorder_point=reorder_point,
                                            target_level=target_level))  # fmt: skip


# -- the part-request ops of the ticket stories ------------------------------------------


def _line(ctx: DemoContext, raw: dict[str, Any]) -> dict[str, Any]:
    """A request line with its part and warehouse named by alias."""
    line = dict(raw)
    line["part_id"] = ctx.ids[f"part:{line.pop('part')}"]
    if "warehouse" in line:
        line["warehouse_id"] = ctx.ids[f"warehouse:{line.pop('warehouse')}"]
    return line


async def run_part_op(
    uow: UnitOfWork,
    ctx: DemoContext,
    ticket_id: uuid.UUID,
    actor: Principal,
    op: str,
    args: dict[str, Any],
    via: str,
) -> None:
    """One part op of a story. `parts` asks for the parts (the ticket waits on them
    unless `wait_for_parts` is false); the other ops act on the ticket's latest request:
    `part_step` (approve, dispatch, deliver...; delivering the last open request resumes
    the ticket), `fit`, and `defective-return` (the part taken off, to a warehouse)."""
    from app.parts.schemas.requests import FitIn, PartRequestCreate
    from app.parts.service import requests

    key = f"part_request:{ticket_id}"
    if op == "parts":
        body = PartRequestCreate.model_validate(
            {"wait_for_parts": True, **args, "lines": [_line(ctx, ln) for ln in args["lines"]]}
        )
        made = await requests.create(uow, actor, ticket_id, body, via)
        ctx.ids[key] = made[-1].id
        ctx.count("part requests", len(made))
    elif op == "part_step":
        await requests.step(uow, actor, ctx.ids[key], args["action"], args.get("note"), via)
    elif op == "fit":
        await requests.fit(uow, actor, ctx.ids[key], FitIn.model_validate(args), via)
    else:
        await _defective_return(uow, ctx, actor, ctx.ids[key], args, via)


async def _serial_place(
    uow: UnitOfWork, part_id: uuid.UUID, number: str
) -> tuple[uuid.UUID, str, str | None, uuid.UUID | None, bool] | None:
    """Where a serial is now: (id, place, condition, warehouse, loaner), None if unknown."""
    from app.parts.service import stock

    found = await stock.find_serials(uow, number, part_id, None, False)
    if not found:
        return None
    s = found[0]
    return s.id, s.place.place, s.place.condition, s.place.warehouse_id, s.loaner


async def _defective_return(
    uow: UnitOfWork,
    ctx: DemoContext,
    actor: Principal,
    request_id: uuid.UUID,
    args: dict[str, Any],
    via: str,
) -> None:
    from app.parts.schemas.requests import DefectiveReturnIn
    from app.parts.service import requests

    req = await requests.get(uow, actor, request_id)
    for number in args.get("serials") or []:
        where = await _serial_place(uow, req.part_id, number)
        if where is not None and where[1] != "customer":
            return  # an earlier load (--force) took this board off and sent it on already
    body = DefectiveReturnIn(
        warehouse_id=ctx.ids[f"warehouse:{args['warehouse']}"],
        serials=args.get("serials"),
        note=args.get("note"),
    )
    await requests.defective_return(uow, actor, request_id, body, via)


# -- after the stories: the RMA, the loan, a replenishment ----------------------------------------------


async def step_parts_follow_up(uow: UnitOfWork, ctx: DemoContext) -> None:
    """After the stories: the RMA, the loan, and a replenishment on its way."""
    await _rma(uow, ctx)
    await _loan(uow, ctx)
    await _replenish(uow, ctx)


async def _rma(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The defective board back in the regional depot goes to the vendor: authorised,
    received there (it is counted there already) and sent, now in repair."""
    from app.demo.tickets import pinned_clock
    from app.parts.schemas.rma import RmaCreate, RmaReceiveBody, RmaSendBody
    from app.parts.service import rma

    part_id, warehouse_id = ctx.ids[f"part:{RMA.part}"], ctx.ids[f"warehouse:{RMA.warehouse}"]
    where = await _serial_place(uow, part_id, RMA.serial)
    if where is None or where[1:4] != ("warehouse", "defective", warehouse_id):
        return  # not returned by this load (an earlier one sent it to the vendor)
    by = ctx.principals[RMA.by]
    registered = ctx.ids[f"registered:{RMA.ticket}"]
    with pinned_clock(registered + timedelta(minutes=RMA.created)) as clock:
        made = await rma.create(uow, by, RmaCreate(
            ticket_id=ctx.ids[f"ticket:{RMA.ticket}"], part_id=part_id, serial=RMA.serial,
            reason=RMA.reason, vendor=RMA.vendor, warehouse_id=warehouse_id,
        ))  # fmt: skip
        clock.set(registered + timedelta(minutes=RMA.received))
        await rma.receive(uow, by, made.id, RmaReceiveBody(note=RMA.receive_note))
        clock.set(registered + timedelta(minutes=RMA.sent))
        await rma.send_to_vendor(uow, by, made.id, RmaSendBody(note=RMA.send_note))
    ctx.count("RMAs")


async def _loan(uow: UnitOfWork, ctx: DemoContext) -> None:
    """The loaner switch lent against the ticket, due back a week after the load."""
    from app.demo.tickets import pinned_clock
    from app.parts.schemas.loans import LoanCreate
    from app.parts.service import loans

    where = await _serial_place(uow, ctx.ids[f"part:{LOAN.part}"], LOAN.serial)
    if where is None or where[1] != "warehouse" or not where[4]:
        return  # out on an earlier load's loan (--force)
    at = ctx.ids[f"registered:{LOAN.ticket}"] + timedelta(minutes=LOAN.at)
    with pinned_clock(at):
        await loans.lend(uow, ctx.principals[LOAN.by], LoanCreate(
            serial_id=where[0], ticket_id=ctx.ids[f"ticket:{LOAN.ticket}"],
            due_back_on=ctx.today + timedelta(days=LOAN.days), note=LOAN.note,
        ))  # fmt: skip
    ctx.count("loaners out")


async def _replenish(uow: UnitOfWork, ctx: DemoContext) -> None:
    """A transfer topping a warehouse up to its target level, still in transit."""
    from app.demo.tickets import pinned_clock
    from app.parts.schemas.stock import TransferIn
    from app.parts.service import stock

    part, source, dest, quantity, reason, hours = REPLENISHMENT
    with pinned_clock(ctx.now - timedelta(hours=hours)):
        await stock.transfer(uow, ctx.principals["store"], TransferIn(
            part_id=ctx.ids[f"part:{part}"], from_warehouse_id=ctx.ids[f"warehouse:{source}"],
            to_warehouse_id=ctx.ids[f"warehouse:{dest}"], quantity=quantity, reason=reason,
        ))  # fmt: skip
    ctx.count("stock transfers")
