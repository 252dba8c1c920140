"""The stock ledger (备件台帐): the one writer of `stock_movements` and of the balances.

A posting is a list of lines, each a signed quantity in one bucket of one (part,
warehouse), with the serial it moves and where the serial ends up. `post` locks the
balances in key order, applies every line, refuses the whole posting when any balance
would go negative or below its reservations (409 with what is available and where),
moves the serials, writes the rows and raises the low-stock events, all in the
caller's transaction: a refusal leaves nothing written. Reservations change the same
balances through `hold` and `release` here, under the same locks.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, Unprocessable
from app.core.ids import uuid7
from app.parts.models import Part, Serial, StockBalance, StockMovement
from app.parts.repository import stock as repo
from app.parts.service import lowstock

Key = repo.Key
_COLUMN = {"good": "on_hand", "defective": "defective", "in_transit": "in_transit",
           "loaner": "loaners"}  # fmt: skip
# Where a serial counted in a bucket of a warehouse is.
_PLACE_OF_BUCKET = {"good": ("warehouse", "good"), "defective": ("warehouse", "defective"),
                    "in_transit": ("in_transit", None), "loaner": ("warehouse", "good")}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """Where a serial is: in a warehouse (with its condition), in transit to one, at a
    customer (fitted on a device or lent), with a vendor, or scrapped."""

    place: str
    condition: str = "good"
    warehouse_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    loaner: bool | None = None  # None: unchanged


@dataclass(frozen=True)
class Line:
    part_id: uuid.UUID
    warehouse_id: uuid.UUID
    quantity: int
    bucket: str = "good"
    serial_id: uuid.UUID | None = None
    # Where the serial is after this posting (on one line per serial).
    to: Place | None = None
    kind: str | None = None  # the posting's kind, unless this line has its own
    reverses_id: uuid.UUID | None = None  # a reversal line: the row it undoes


@dataclass
class Refs:
    ticket_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    rma_id: uuid.UUID | None = None
    loan_id: uuid.UUID | None = None
    reason: str | None = None
    reverses_id: uuid.UUID | None = None


@dataclass
class Posting:
    """What `post` wrote: its rows and the balances after it."""

    batch_id: uuid.UUID
    movements: list[StockMovement]
    balances: dict[Key, StockBalance]
    serials: dict[uuid.UUID, Serial] = field(default_factory=dict)


class InsufficientStock(Conflict):
    slug, title = "insufficient-stock", "Not enough stock"


def _actor_fields(actor: Any) -> tuple[uuid.UUID | None, str]:
    return getattr(actor, "id", None), str(getattr(actor, "name", "Supportline"))[:200]


async def insufficient(
    uow: UnitOfWork, part: Part, warehouse_id: uuid.UUID, wanted: int, have: int, what: str
) -> InsufficientStock:
    """The 409 of a posting or reservation that asks for more than there is: how much is
    available here, and where else the part is available (the warehouses holding it)."""
    # No autoflush: the caller's balances may hold the refused (negative) values, which
    # must not reach the database (the whole unit of work rolls back).
    with uow.session.no_autoflush:
        elsewhere = await repo.list_balances(
            uow, limit=20, after=None, part_id=part.id, available_at_least=1
        )
    return InsufficientStock(
        f"Part {part.number}: {wanted} {what} asked for, {have} in warehouse.",
        part_id=str(part.id),
        part_number=part.number,
        warehouse_id=str(warehouse_id),
        requested=wanted,
        available=have,
        available_elsewhere=[
            {"warehouse_id": str(b.warehouse_id), "available": b.on_hand - b.reserved}
            for b in elsewhere[:20]
            if b.warehouse_id != warehouse_id
        ],
    )


async def _check_engaged(
    uow: UnitOfWork, serials: dict[uuid.UUID, Serial], lines: Sequence[Line], refs: Refs
) -> None:
    """A serial out on an open loan, or with the vendor under an open RMA, is moved only
    by that loan's or RMA's own steps: a receipt, a return or a reversal that brought it
    back would leave the loan or the RMA unable ever to end."""
    if not serials:
        return
    loans, rmas = await repo.engaged_serials(uow, serials)
    for line in lines:
        if line.serial_id is None:
            continue
        loan, rma = loans.get(line.serial_id), rmas.get(line.serial_id)
        if loan is not None and loan != refs.loan_id:
            raise Conflict(f"Serial {serials[line.serial_id].serial} is out on a loan: "
                           "its loan's return brings it back.", loan_id=str(loan))  # fmt: skip
        if rma is not None and rma != refs.rma_id:
            raise Conflict(f"Serial {serials[line.serial_id].serial} is with the vendor under "
                           "an RMA: the RMA's steps move it.", rma_id=str(rma))  # fmt: skip


def _apply(balances: dict[Key, StockBalance], lines: Sequence[Line]) -> None:
    for line in lines:
        b = balances[(line.part_id, line.warehouse_id)]
        column = _COLUMN[line.bucket]
        setattr(b, column, getattr(b, column) + line.quantity)


async def _check(uow: UnitOfWork, balances: dict[Key, StockBalance], parts: dict[uuid.UUID, Part],
                 lines: Sequence[Line]) -> None:  # fmt: skip
    """The database's CHECK constraints would refuse these too; checked here first so the
    refusal says what is available instead of naming a constraint."""
    wanted: dict[tuple[Key, str], int] = defaultdict(int)
    for line in lines:
        if line.quantity < 0:
            wanted[((line.part_id, line.warehouse_id), line.bucket)] -= line.quantity
    for key, b in balances.items():
        for bucket, column in _COLUMN.items():
            if getattr(b, column) < 0:
                ask = wanted[(key, bucket)]
                have = ask + getattr(b, column)
                if bucket == "good":
                    have -= b.reserved
                raise await insufficient(uow, parts[key[0]], key[1], ask, max(have, 0),
                                         f"{bucket.replace('_', ' ')} unit(s)")  # fmt: skip
        if b.on_hand < b.reserved:
            ask = wanted[(key, "good")]
            raise await insufficient(uow, parts[key[0]], key[1], ask,
                                     max(b.on_hand + ask - b.reserved, 0), "unit(s)")  # fmt: skip


def _check_serial_lines(parts: dict[uuid.UUID, Part], lines: Sequence[Line]) -> None:
    for line in lines:
        part = parts[line.part_id]
        if part.serialised and line.serial_id is None:
            raise Unprocessable(f"Part {part.number} is serialised: name the serial.",
                                field="serial")  # fmt: skip
        if not part.serialised and line.serial_id is not None:
            raise Unprocessable(f"Part {part.number} is not serialised.", field="serial")
        if line.serial_id is not None and abs(line.quantity) > 1:
            raise Unprocessable("A serial moves one unit at a time.", field="quantity")


def _move_serials(serials: dict[uuid.UUID, Serial], lines: Sequence[Line], now: datetime) -> None:
    """Checks each serial is where the posting takes it from, and moves it to its new
    place. A serial is in one place at a time: the place its last ledger row names."""
    for line in lines:
        if line.serial_id is None or line.quantity >= 0:
            continue
        s = serials[line.serial_id]
        place, condition = _PLACE_OF_BUCKET[line.bucket]
        if (
            s.place != place
            or s.warehouse_id != line.warehouse_id
            or (condition is not None and s.condition != condition)
            or (line.bucket in ("good", "loaner") and s.loaner != (line.bucket == "loaner"))
        ):
            raise Conflict(
                f"Serial {s.serial} is not {line.bucket.replace('_', ' ')} stock in that "
                f"warehouse (it is {s.place}).",
                serial=s.serial,
                place=s.place,
                warehouse_id=str(s.warehouse_id) if s.warehouse_id else None,
            )
    leaving = {ln.serial_id for ln in lines if ln.serial_id is not None and ln.quantity < 0}
    for line in lines:
        # A serial counted in stock somewhere cannot be brought in again elsewhere
        # unless this posting takes it out of there.
        if line.serial_id is not None and line.quantity > 0 and line.serial_id not in leaving:
            s = serials[line.serial_id]
            if s.place in ("warehouse", "in_transit"):
                raise Conflict(f"Serial {s.serial} is in stock already ({s.place}).",
                               serial=s.serial, place=s.place,
                               warehouse_id=str(s.warehouse_id))  # fmt: skip
    for line in lines:
        if line.serial_id is None or line.to is None:
            continue
        s, to = serials[line.serial_id], line.to
        s.place, s.condition = to.place, to.condition
        s.warehouse_id = to.warehouse_id if to.place in ("warehouse", "in_transit") else None
        s.customer_id = to.customer_id if to.place == "customer" else None
        s.device_id = to.device_id if to.place == "customer" else None
        if to.loaner is not None:
            s.loaner = to.loaner
        s.version += 1
        s.updated_at = now


def _rows(kind: str, lines: Sequence[Line], parts: dict[uuid.UUID, Part],
          serials: dict[uuid.UUID, Serial], refs: Refs, actor: Any, at: datetime,
          batch_id: uuid.UUID) -> list[StockMovement]:  # fmt: skip
    actor_id, actor_name = _actor_fields(actor)
    final = {ln.serial_id: ln.to for ln in lines if ln.serial_id is not None and ln.to is not None}
    out = []
    for line in lines:
        to = final.get(line.serial_id) if line.serial_id else None
        out.append(StockMovement(
            id=uuid7(), at=at, kind=line.kind or kind, part_id=line.part_id,
            warehouse_id=line.warehouse_id, bucket=line.bucket, quantity=line.quantity,
            unit_cost=parts[line.part_id].unit_cost, serial_id=line.serial_id,
            serial_place=to.place if to else None,
            serial_condition=to.condition if to else None,
            serial_warehouse_id=to.warehouse_id if to and to.place in ("warehouse", "in_transit")
            else None,
            serial_customer_id=to.customer_id if to and to.place == "customer" else None,
            serial_device_id=to.device_id if to and to.place == "customer" else None,
            ticket_id=refs.ticket_id, request_id=refs.request_id, rma_id=refs.rma_id,
            loan_id=refs.loan_id, batch_id=batch_id,
            reverses_id=line.reverses_id or refs.reverses_id,
            reason=refs.reason, actor_id=actor_id, actor_name=actor_name,
        ))  # fmt: skip
    return out


async def post(
    uow: UnitOfWork,
    actor: Any,
    kind: str,
    lines: Sequence[Line],
    refs: Refs | None = None,
    *,
    at: datetime | None = None,
    release: Iterable[tuple[Key, int]] = (),
    batch_id: uuid.UUID | None = None,
    reserved_serials: Iterable[uuid.UUID] = (),
) -> Posting:
    """Writes one posting (see the module's docstring). `release` lowers reservations in
    the same step (an issue consumes the units it reserved); `reserved_serials` are the
    reserved serials this posting may move (the issue of their own request): any other
    reserved serial is refused, whatever the posting (a transfer, scrap, the loaner
    pool), checked under the serial's lock so no reservation can slip in between."""
    refs = refs or Refs()
    now = get_clock().now()
    at = at or now
    release = list(release)
    keys = [(ln.part_id, ln.warehouse_id) for ln in lines] + [k for k, _ in release]
    parts = await repo.parts_costs(uow, [k[0] for k in keys])
    _check_serial_lines(parts, lines)
    balances = await repo.lock_balances(uow, keys)
    serials = await repo.lock_serials(uow, [ln.serial_id for ln in lines if ln.serial_id])
    held = await repo.reserved_serials(uow, serials) - set(reserved_serials)
    if held:
        s = serials[min(held)]
        raise Conflict(f"Serial {s.serial} is reserved by a part request.", serial=s.serial)
    await _check_engaged(uow, serials, lines, refs)
    before = {k: b.on_hand - b.reserved for k, b in balances.items()}
    for key, quantity in release:
        balances[key].reserved -= quantity
    _apply(balances, lines)
    await _check(uow, balances, parts, lines)
    _move_serials(serials, lines, now)
    batch_id = batch_id or uuid7()
    rows = _rows(kind, lines, parts, serials, refs, actor, at, batch_id)
    for b in balances.values():
        b.updated_at = now
    repo.add_movements(uow, rows)
    await lowstock.evaluate(uow, balances, before, now)
    await repo.flush(uow)
    return Posting(batch_id, rows, balances, serials)


async def hold(uow: UnitOfWork, part: Part, warehouse_id: uuid.UUID, quantity: int,
               balance: StockBalance | None = None) -> StockBalance:  # fmt: skip
    """Reserves `quantity` of a part in a warehouse (its balance locked here unless the
    caller holds it): 409 when fewer are available."""
    key = (part.id, warehouse_id)
    if balance is None:
        balance = (await repo.lock_balances(uow, [key]))[key]
    available = balance.on_hand - balance.reserved
    if available < quantity:
        raise await insufficient(uow, part, warehouse_id, quantity, max(available, 0), "unit(s)")
    balance.reserved += quantity
    balance.updated_at = get_clock().now()
    await lowstock.evaluate(uow, {key: balance}, {key: available}, balance.updated_at)
    return balance


async def release(uow: UnitOfWork, items: Iterable[tuple[Key, int]]) -> None:
    """Gives reserved units back (a cancelled or rejected request)."""
    items = list(items)
    if not items:
        return
    balances = await repo.lock_balances(uow, [k for k, _ in items])
    before = {k: b.on_hand - b.reserved for k, b in balances.items()}
    now = get_clock().now()
    for key, quantity in items:
        balances[key].reserved -= quantity
        balances[key].updated_at = now
    await lowstock.evaluate(uow, balances, before, now)


async def lock_balances(uow: UnitOfWork, keys: Iterable[Key]) -> dict[Key, StockBalance]:
    return await repo.lock_balances(uow, keys)


async def lock_serials(uow: UnitOfWork, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Serial]:
    """Serial rows locked in id order, after the balances they are counted in."""
    return await repo.lock_serials(uow, ids)
