"""Stock operations by hand (warehouse staff): receipts, returns, scrap, count
adjustments, transfers and their receipt, reversals; balances and their levels; stock
as of an instant; serials and where they are (or were). Every movement goes through
`ledger.post`, so every one is checked, locked and recorded the same way."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from app.core.ids import uuid7
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.parts.models import Part, Serial, StockBalance, StockMovement, StockTransfer, Warehouse
from app.parts.repository import stock as repo
from app.parts.schemas.stock import (
    AdjustmentIn,
    BalanceOut,
    LevelsIn,
    MovementOut,
    ReceiptIn,
    ReturnIn,
    ScrapIn,
    SerialOut,
    SerialPlaceOut,
    TransferIn,
)
from app.parts.service import catalogue, ledger, lowstock, serials
from app.parts.service.ledger import Line, Place, Posting, Refs

# Postings a reversal may undo: what a person entered by hand. A request's issue, a
# transfer or an RMA's step is undone by that workflow's own next step, not by a reversal.
REVERSIBLE = ("receipt", "adjustment", "return_good", "return_defective", "scrap")


async def _place(
    uow: UnitOfWork, principal: Principal, part_id: uuid.UUID, warehouse_id: uuid.UUID,
    field: str = "warehouse_id",
) -> tuple[Part, Warehouse]:  # fmt: skip
    part = await catalogue.part_in_body(uow, part_id)
    warehouse = await catalogue.warehouse_in_body(uow, principal, warehouse_id, field, write=True)
    return part, warehouse


def _need_serials(part: Part, given: Sequence[str] | None) -> list[str]:
    if part.serialised and not given:
        raise Unprocessable(f"Part {part.number} is serialised: give `serials`.", field="serials")
    if not part.serialised and given:
        raise Unprocessable(f"Part {part.number} is not serialised.", field="serials")
    return list(given or [])


async def _incoming(uow: UnitOfWork, part: Part, numbers: Sequence[str]) -> list[Serial]:
    """Serials coming into stock: known ones (they must not be in stock now: the ledger
    checks) and new ones, created where they come from."""
    out = []
    for number in numbers:
        found = await serials.serial_by_number(uow, part.id, number)
        out.append(found or await serials.new_serial(uow, part.id, number, Place("vendor")))
    return out


async def _outgoing(
    uow: UnitOfWork, part: Part, numbers: Sequence[str], field: str = "serials"
) -> list[Serial]:
    out = []
    for number in numbers:
        found = await serials.serial_by_number(uow, part.id, number)
        if found is None:
            raise Unprocessable(f"Serial '{number}' of {part.number} is not known.", field=field)
        out.append(found)
    return out


def _in_lines(part: Part, wh: uuid.UUID, qty: int, bucket: str, incoming: Sequence[Serial],
              condition: str = "good", loaner: bool | None = None) -> list[Line]:  # fmt: skip
    if not part.serialised:
        return [Line(part.id, wh, qty, bucket)]
    to = Place("warehouse", condition, wh, loaner=loaner)
    return [Line(part.id, wh, 1, bucket, s.id, to) for s in incoming]


def _out_lines(part: Part, wh: uuid.UUID, qty: int, bucket: str, outgoing: Sequence[Serial],
               to: Place) -> list[Line]:  # fmt: skip
    if not part.serialised:
        return [Line(part.id, wh, -qty, bucket)]
    return [Line(part.id, wh, -1, bucket, s.id, to) for s in outgoing]


async def receive(uow: UnitOfWork, principal: Principal, body: ReceiptIn) -> Posting:
    part, wh = await _place(uow, principal, body.part_id, body.warehouse_id)
    numbers = _need_serials(part, body.serials)
    if body.loaner and not part.serialised:
        raise Unprocessable("Loaner units (备机) are serialised parts.", field="loaner")
    incoming = await _incoming(uow, part, numbers)
    bucket = "loaner" if body.loaner else "good"
    lines = _in_lines(part, wh.id, body.quantity, bucket, incoming, loaner=body.loaner)
    return await ledger.post(uow, principal, "receipt", lines, Refs(reason=body.reason))


async def return_part(uow: UnitOfWork, principal: Principal, body: ReturnIn) -> Posting:
    part, wh = await _place(uow, principal, body.part_id, body.warehouse_id)
    numbers = _need_serials(part, body.serials)
    incoming = await _incoming(uow, part, numbers)
    bucket = body.condition
    kind = "return_good" if bucket == "good" else "return_defective"
    lines = _in_lines(part, wh.id, body.quantity, bucket, incoming, condition=bucket,
                      loaner=False if bucket == "good" else None)  # fmt: skip
    refs = Refs(ticket_id=body.ticket_id, reason=body.reason)
    return await ledger.post(uow, principal, kind, lines, refs)


async def scrap(uow: UnitOfWork, principal: Principal, body: ScrapIn) -> Posting:
    part, wh = await _place(uow, principal, body.part_id, body.warehouse_id)
    outgoing = await _outgoing(uow, part, _need_serials(part, body.serials))
    lines = _out_lines(part, wh.id, body.quantity, body.source, outgoing, Place("scrapped"))
    return await ledger.post(uow, principal, "scrap", lines, Refs(reason=body.reason))


async def adjust(uow: UnitOfWork, principal: Principal, body: AdjustmentIn) -> Posting:
    """A count's finding: more units (new or found serials) or fewer (missing serials are
    written off as scrapped, with the count's reason)."""
    part, wh = await _place(uow, principal, body.part_id, body.warehouse_id)
    numbers = _need_serials(part, body.serials)
    if numbers and len(numbers) != abs(body.quantity):
        raise Unprocessable("Give one serial per unit counted.", field="serials")
    if body.quantity > 0:
        lines = _in_lines(part, wh.id, body.quantity, "good", await _incoming(uow, part, numbers),
                          loaner=False)  # fmt: skip
    else:
        outgoing = await _outgoing(uow, part, numbers)
        lines = _out_lines(part, wh.id, -body.quantity, "good", outgoing, Place("scrapped"))
    return await ledger.post(uow, principal, "adjustment", lines, Refs(reason=body.reason))


# --- transfers --------------------------------------------------------------------------


async def transfer(uow: UnitOfWork, principal: Principal, body: TransferIn) -> StockTransfer:
    part, src = await _place(uow, principal, body.part_id, body.from_warehouse_id,
                             "from_warehouse_id")  # fmt: skip
    dst = await catalogue.warehouse_in_body(uow, principal, body.to_warehouse_id,
                                            "to_warehouse_id")  # fmt: skip
    outgoing = await _outgoing(uow, part, _need_serials(part, body.serials))
    t = StockTransfer(
        id=uuid7(), part_id=part.id, from_warehouse_id=src.id, to_warehouse_id=dst.id,
        quantity=body.quantity, serial_ids=[str(s.id) for s in outgoing], reason=body.reason,
        shipped_at=get_clock().now(), created_by=principal.name,
    )  # fmt: skip
    repo.add_transfer(uow, t)
    await repo.flush(uow)
    moving = Place("in_transit", warehouse_id=dst.id)
    lines = _out_lines(part, src.id, body.quantity, "good", outgoing, moving)
    lines += [Line(part.id, dst.id, -ln.quantity, "in_transit", ln.serial_id) for ln in lines]
    await ledger.post(uow, principal, "transfer_out", lines, Refs(reason=body.reason),
                      batch_id=t.id)  # fmt: skip
    return t


async def receive_transfer(
    uow: UnitOfWork, principal: Principal, transfer_id: uuid.UUID
) -> StockTransfer:
    t = await repo.lock_transfer(uow, transfer_id)
    if t is None:
        raise NotFound("Transfer not found.")
    await catalogue.warehouse_in_body(uow, principal, t.to_warehouse_id, write=True)
    if t.state != "in_transit":
        raise InvalidTransition(f"The transfer is {t.state}.", current_state=t.state,
                                allowed_actions=[])  # fmt: skip
    part = await catalogue.get_part(uow, t.part_id)
    dst = t.to_warehouse_id
    if part.serialised:
        here = Place("warehouse", "good", dst, loaner=False)
        ids = [uuid.UUID(i) for i in t.serial_ids]
        lines = [Line(part.id, dst, -1, "in_transit", i) for i in ids]
        lines += [Line(part.id, dst, 1, "good", i, here) for i in ids]
    else:
        lines = [Line(part.id, dst, -t.quantity, "in_transit"), Line(part.id, dst, t.quantity)]
    await ledger.post(uow, principal, "transfer_in", lines, Refs(reason=t.reason))
    t.state, t.received_at, t.version = "received", get_clock().now(), t.version + 1
    return t


async def get_transfer(uow: UnitOfWork, transfer_id: uuid.UUID) -> StockTransfer:
    t = await repo.get_transfer(uow, transfer_id)
    if t is None:
        raise NotFound("Transfer not found.")
    return t


async def list_transfers(uow: UnitOfWork, page: PageParams, **filters: Any) -> Page[StockTransfer]:
    rows = await repo.list_transfers(uow, limit=page.limit, after=page.after, **filters)
    return make_page(rows, page.limit)


# --- reversals --------------------------------------------------------------------------


async def _put_back(uow: UnitOfWork, row: StockMovement) -> Place | None:
    """Where a reversal puts the serial of `row`: where it was before the row."""
    if row.serial_id is None or row.serial_place is None:
        return None
    prev = await repo.serial_row_before(uow, row.serial_id, row.seq or 0)
    if prev is None or prev.serial_place is None:
        return Place("scrapped")  # a serial received by mistake leaves the stock for good
    return Place(prev.serial_place, prev.serial_condition or "good", prev.serial_warehouse_id,
                 prev.serial_customer_id, prev.serial_device_id)  # fmt: skip


async def _check_not_moved_since(uow: UnitOfWork, rows: Sequence[StockMovement]) -> None:
    """A serial the posting moved must still be where the posting put it: one that has
    moved on since (fitted, lent, scrapped, sent away) is not pulled back by undoing an
    old row; its own later steps are undone first."""
    for r in rows:
        if r.serial_id is None or r.serial_place is None:
            continue
        last = await repo.serial_row_at(uow, r.serial_id, datetime.max.replace(tzinfo=UTC))
        if last is not None and last.seq != r.seq:
            serial = await serials.serial_by_id(uow, r.serial_id)
            raise Conflict(f"Serial {serial.serial} has moved since this posting.",
                           serial=serial.serial, place=serial.place)  # fmt: skip


async def reverse(
    uow: UnitOfWork, principal: Principal, batch_id: uuid.UUID, reason: str
) -> Posting:
    """Undoes a posting with new rows (the old ones stay): each row's opposite, and its
    serial back where it was. Refused whole if any balance would go negative."""
    rows = await repo.movements_of_batch(uow, batch_id)
    if not rows:
        raise NotFound("Posting not found.")
    workflow = any(r.request_id or r.rma_id or r.loan_id for r in rows)
    if workflow or any(r.kind not in REVERSIBLE for r in rows):
        raise Conflict(
            f"A {rows[0].kind} posting of a part request, RMA or loan (or of a transfer) is "
            "undone by its own workflow, not reversed.",
            kind=rows[0].kind, reversible=list(REVERSIBLE),
        )  # fmt: skip
    await _check_not_moved_since(uow, rows)
    for r in rows:
        await catalogue.warehouse_in_body(uow, principal, r.warehouse_id, write=True)
    if await repo.reversed_ids(uow, [r.id for r in rows]):
        raise Conflict("This posting has been reversed already.")
    lines = [
        Line(r.part_id, r.warehouse_id, -r.quantity, r.bucket, r.serial_id,
             await _put_back(uow, r), reverses_id=r.id)
        for r in rows
    ]  # fmt: skip
    return await ledger.post(uow, principal, "reversal", lines, Refs(reason=reason))


# --- balances ---------------------------------------------------------------------------


def balance_out(b: StockBalance) -> BalanceOut:
    return BalanceOut(
        part_id=b.part_id, warehouse_id=b.warehouse_id, on_hand=b.on_hand, reserved=b.reserved,
        available=b.on_hand - b.reserved, defective=b.defective, in_transit=b.in_transit,
        loaners=b.loaners, reorder_point=b.reorder_point, target_level=b.target_level,
        below_reorder=b.below_reorder, updated_at=b.updated_at,
    )  # fmt: skip


async def set_levels(
    uow: UnitOfWork, principal: Principal, part_id: uuid.UUID, warehouse_id: uuid.UUID,
    body: LevelsIn,
) -> StockBalance:  # fmt: skip
    await catalogue.get_part(uow, part_id)
    wh = await catalogue.get_warehouse(uow, warehouse_id)
    if not principal.sees_branch(wh.branch_id):
        raise NotFound("Warehouse not found.")
    b = await repo.lock_balance_levels(uow, part_id, warehouse_id)
    b.reorder_point, b.target_level = body.reorder_point, body.target_level
    now = get_clock().now()
    b.updated_at = now
    if b.reorder_point is None:
        b.below_reorder = False
    key = (part_id, warehouse_id)
    await lowstock.evaluate(uow, {key: b}, {key: b.on_hand - b.reserved}, now)
    await repo.flush(uow)
    return b


async def list_balances(uow: UnitOfWork, page_limit: int, after: tuple[uuid.UUID, uuid.UUID] | None,
                        **filters: Any) -> list[StockBalance]:  # fmt: skip
    return await repo.list_balances(uow, limit=page_limit, after=after, **filters)


async def part_stock_json(
    uow: UnitOfWork, part_id: uuid.UUID, warehouse_id: uuid.UUID | None
) -> bytes:
    """A part's stock now, as the API's JSON (PartStockOut), built by PostgreSQL."""
    found = await repo.part_stock_json(uow, part_id, warehouse_id)
    if found is None:
        raise NotFound("Part not found.")
    return found.encode()


async def part_stock_as_of(
    uow: UnitOfWork, part_id: uuid.UUID, at: datetime, warehouse_id: uuid.UUID | None
) -> list[Any]:
    await catalogue.get_part(uow, part_id)
    return list(await repo.stock_as_of(uow, part_id, at, warehouse_id))


async def list_movements(uow: UnitOfWork, limit: int, after_seq: int | None,
                         **filters: Any) -> list[StockMovement]:  # fmt: skip
    return await repo.list_movements(uow, limit=limit, after_seq=after_seq, **filters)


# --- serials ----------------------------------------------------------------------------


def _now_place(s: Serial, since: datetime | None) -> SerialPlaceOut:
    return SerialPlaceOut(place=s.place, condition=s.condition, warehouse_id=s.warehouse_id,
                          customer_id=s.customer_id, device_id=s.device_id, since=since)  # fmt: skip


def _row_place(row: StockMovement | None) -> SerialPlaceOut:
    if row is None:
        return SerialPlaceOut(place=None, condition=None, warehouse_id=None, customer_id=None,
                              device_id=None, since=None)  # fmt: skip
    return SerialPlaceOut(place=row.serial_place, condition=row.serial_condition,
                          warehouse_id=row.serial_warehouse_id,
                          customer_id=row.serial_customer_id,
                          device_id=row.serial_device_id, since=row.at)  # fmt: skip


async def serial_out(
    uow: UnitOfWork, s: Serial, as_of: datetime | None, history: bool
) -> SerialOut:
    """Where the serial is now (or was at `as_of`), from one read of its ledger rows."""
    rows = await repo.serial_history(uow, s.id)
    if as_of is None:
        since = rows[-1].at if rows else None
        place = _now_place(s, since)
    else:
        then = [r for r in rows if r.at <= as_of and r.serial_place is not None]
        place = _row_place(then[-1] if then else None)
    held = await repo.reserved_serials(uow, [s.id])
    return SerialOut(
        id=s.id, part_id=s.part_id, serial=s.serial, loaner=s.loaner, reserved=s.id in held,
        place=place, as_of=as_of,
        history=[MovementOut.model_validate(r) for r in rows] if history else None,
    )  # fmt: skip


async def find_serials(
    uow: UnitOfWork, number: str, part_id: uuid.UUID | None, as_of: datetime | None,
    history: bool,
) -> list[SerialOut]:  # fmt: skip
    found = await serials.serials_by_number(uow, number)
    if part_id is not None:
        found = [s for s in found if s.part_id == part_id]
    return [await serial_out(uow, s, as_of, history) for s in found]


async def get_serial(
    uow: UnitOfWork, serial_id: uuid.UUID, as_of: datetime | None, history: bool
) -> SerialOut:
    return await serial_out(uow, await serials.serial_by_id(uow, serial_id), as_of, history)
