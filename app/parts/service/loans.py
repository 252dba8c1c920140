"""Loaner units (备机): the loaner pool of each warehouse and loans against tickets.

A loaner is a serial in bucket "loaner" of a warehouse: counted in the balance's
`loaners`, never available to part requests. Lending it ("loan_out") sends the serial
to the ticket's customer; it comes back ("loan_in", into the pool, or into defective
stock and out of the pool), is sold to the customer ("loan_sold"), or is written off
("loan_written_off"). Every step goes through `ledger.post`, on the ticket's timeline,
and into the outbox (aggregate "loan").

A serial is out on one loan at a time: the lend locks the ticket, then (in the ledger's
one lock order) the balance and the serial, and looks for an open loan of the serial
under that lock; the partial unique index `uq_loans_serial_out` backs it. The same lend
sent again (same serial, ticket and due date) answers the open loan instead of a 409,
so a client that retries without an Idempotency-Key does not see a refusal of its own
request.

Dates are business dates in Asia/Shanghai: a loan due back on D is overdue from D+1
00:00 there; its reminder goes LOAN_REMINDER_HOURS before D begins.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.outbox.service import publish
from app.parts.models import Loan, Serial
from app.parts.repository import loans as repo
from app.parts.repository import stock as stock_repo
from app.parts.schemas.loans import (
    LoanCreate,
    LoanerPoolIn,
    LoanerPoolOut,
    LoanOut,
    LoanReturnIn,
    LoanSellIn,
    LoanUpdate,
    LoanWriteOffIn,
)
from app.parts.service import catalogue, ledger, serials, timeline
from app.parts.service.ledger import Line, Place, Refs
from app.tickets import interface as tickets
from app.timers import service as timers

REMINDER_TIMER = "parts.loan_reminder"
OVERDUE_TIMER = "parts.loan_overdue"
ZONE = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 365
_ENDED_TICKET = ("closed", "cancelled")


class LoanerHeld(Conflict):
    slug, title = "loaner-held", "The loaner is out on another loan"


# --- dates --------------------------------------------------------------------------


def business_date(now: datetime) -> date:
    return now.astimezone(ZONE).date()


def reminder_at(loan: Loan) -> datetime:
    start = datetime.combine(loan.due_back_on, time(0), ZONE)
    return start - timedelta(hours=get_settings().loan_reminder_hours)


def overdue_at(loan: Loan) -> datetime:
    """The end of the due-back date: from then on the loan is overdue."""
    return datetime.combine(loan.due_back_on + timedelta(days=1), time(0), ZONE)


def is_overdue(loan: Loan, now: datetime) -> bool:
    return loan.state == "out" and now >= overdue_at(loan)


def _check_due(due: date, now: datetime, field: str = "due_back_on") -> None:
    today = business_date(now)
    if due < today:
        raise Unprocessable(f"{field} must not be before today ({today}).", field=field)
    if due > today + timedelta(days=MAX_DAYS):
        raise Unprocessable(f"{field} must be within {MAX_DAYS} days of today.", field=field)


# --- views and announcements ----------------------------------------------------------


def out_of(loan: Loan, serial: str, part_number: str, now: datetime) -> LoanOut:
    extra = {"serial": serial, "part_number": part_number, "overdue": is_overdue(loan, now)}
    return LoanOut.model_validate(loan.model_dump() | extra)


async def _view(uow: UnitOfWork, loan: Loan) -> LoanOut:
    serial, number = await repo.names(uow, loan.serial_id, loan.part_id)
    return out_of(loan, serial, number, get_clock().now())


async def _announce(uow: UnitOfWork, actor: Any, loan: Loan, step: str, **extra: Any) -> LoanOut:
    """`loan.<step>` on the ticket's timeline and in the outbox; the loan as answered."""
    view = await _view(uow, loan)
    data = {
        "loan_id": str(loan.id),
        "serial_id": str(loan.serial_id),
        "serial": view.serial,
        "part_id": str(loan.part_id),
        "part_number": view.part_number,
        "warehouse_id": str(loan.warehouse_id),
        "customer_id": str(loan.customer_id),
        "ticket_id": str(loan.ticket_id),
        "branch_id": str(loan.branch_id),
        "state": loan.state,
        "lent_at": loan.lent_at.isoformat(),
        "due_back_on": loan.due_back_on.isoformat(),
        **extra,
    }
    await timeline.note(uow, actor, loan.ticket_id, f"loan.{step}", data)
    publish(uow, f"loan.{step}", "loan", loan.id, data)
    return view


async def _schedule(uow: UnitOfWork, loan: Loan, now: datetime) -> None:
    """The reminder (unless its time has passed: a loan due back tomorrow is not "due
    soon" the minute it is lent) and the overdue notice of the current due date."""
    remind = reminder_at(loan)
    if remind > now:
        await timers.schedule(uow, REMINDER_TIMER, loan.id, remind)
    else:
        await timers.cancel(uow, REMINDER_TIMER, [loan.id])
    await timers.schedule(uow, OVERDUE_TIMER, loan.id, overdue_at(loan))


# --- the loaner pool ----------------------------------------------------------------


async def _lock_serial(uow: UnitOfWork, serial: Serial) -> tuple[Serial, uuid.UUID | None]:
    """The serial locked after its balance (the ledger's one lock order), and the
    warehouse whose balance is locked (None: it was in none)."""
    where = serial.warehouse_id
    if where is not None:
        await ledger.lock_balances(uow, [(serial.part_id, where)])
    return (await stock_repo.lock_serials(uow, [serial.id]))[serial.id], where


def _still_there(serial: Serial, where: uuid.UUID | None) -> None:
    if serial.warehouse_id != where:  # moved between the read and the lock
        raise Conflict(f"Serial {serial.serial} moved meanwhile ({serial.place} now); try again.",
                       serial=serial.serial, place=serial.place)  # fmt: skip


async def set_pool(uow: UnitOfWork, principal: Principal, body: LoanerPoolIn) -> LoanerPoolOut:
    found = await serials.serial_in_body(uow, body.serial_id)
    if found.warehouse_id is None:
        raise Conflict(f"Serial {found.serial} is not in a warehouse (it is {found.place}).",
                       serial=found.serial, place=found.place)  # fmt: skip
    await catalogue.warehouse_in_body(uow, principal, found.warehouse_id, "serial_id", write=True)
    serial, wh = await _lock_serial(uow, found)
    _still_there(serial, wh)
    assert wh is not None
    if serial.place == "warehouse" and serial.loaner == body.join:
        balance = (await ledger.lock_balances(uow, [(serial.part_id, wh)]))[(serial.part_id, wh)]
        return _pool_out(serial, wh, balance.on_hand, balance.reserved, balance.loaners, False)
    if body.join and await repo.serial_reserved(uow, serial.id):
        raise Conflict(f"Serial {serial.serial} is reserved for a part request.",
                       serial=serial.serial)  # fmt: skip
    # The ledger checks the serial is good stock (joining) or a loaner (leaving) there.
    to = Place("warehouse", "good", wh, loaner=body.join)
    take, put = ("good", "loaner") if body.join else ("loaner", "good")
    lines = [Line(serial.part_id, wh, -1, take, serial.id),
             Line(serial.part_id, wh, 1, put, serial.id, to=to)]  # fmt: skip
    posting = await ledger.post(uow, principal, "pool_in" if body.join else "pool_out", lines)
    b = posting.balances[(serial.part_id, wh)]
    return _pool_out(serial, wh, b.on_hand, b.reserved, b.loaners, True)


def _pool_out(s: Serial, wh: uuid.UUID, on_hand: int, reserved: int, loaners: int,
              changed: bool) -> LoanerPoolOut:  # fmt: skip
    return LoanerPoolOut(serial_id=s.id, serial=s.serial, part_id=s.part_id, warehouse_id=wh,
                         loaner=s.loaner, changed=changed, on_hand=on_hand, reserved=reserved,
                         loaners=loaners)  # fmt: skip


# --- lending ------------------------------------------------------------------------


async def _ticket(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> tickets.Ticket:
    try:
        ticket = await tickets.get_for_update(uow, principal, ticket_id)
    except NotFound as exc:
        raise Unprocessable("ticket_id does not name a ticket.", field="ticket_id") from exc
    if ticket.status in _ENDED_TICKET:
        raise InvalidTransition(f"Ticket {ticket.number} is {ticket.status}: nothing is lent "
                                "against it.", current_state=ticket.status)  # fmt: skip
    return ticket


async def _held(uow: UnitOfWork, principal: Principal, serial: Serial, loan: Loan) -> LoanerHeld:
    """The 409 of a serial out on another loan, naming who holds it (the ticket's number
    only to a key that may see that ticket)."""
    holder = await tickets.get_any(uow, loan.ticket_id)
    number = holder.number if holder and principal.sees_branch(loan.branch_id) else None
    on = f" on ticket {number}" if number else ""
    return LoanerHeld(
        f"Serial {serial.serial} is out on loan{on}, due back on {loan.due_back_on}.",
        serial=serial.serial, loan_id=str(loan.id), ticket_id=str(loan.ticket_id),
        ticket_number=number, customer_id=str(loan.customer_id),
        due_back_on=loan.due_back_on.isoformat(),
    )  # fmt: skip


async def lend(uow: UnitOfWork, principal: Principal, body: LoanCreate) -> tuple[LoanOut, bool]:
    """The loan and whether it is new (False: the same lend was made already)."""
    now = get_clock().now()
    _check_due(body.due_back_on, now)
    ticket = await _ticket(uow, principal, body.ticket_id)
    found = await serials.serial_in_body(uow, body.serial_id)
    serial, wh = await _lock_serial(uow, found)
    existing = await repo.open_loan_of_serial(uow, serial.id)
    if existing is not None:
        if (existing.ticket_id, existing.due_back_on) == (ticket.id, body.due_back_on):
            return await _view(uow, existing), False
        raise await _held(uow, principal, serial, existing)
    _still_there(serial, wh)
    if wh is None or serial.place != "warehouse" or not serial.loaner:
        raise Conflict(f"Serial {serial.serial} is not a loaner in stock (it is {serial.place}"
                       f"{'' if serial.loaner else ', not in the loaner pool'}).",
                       serial=serial.serial, place=serial.place)  # fmt: skip
    await catalogue.warehouse_in_body(uow, principal, wh, "serial_id", write=True)
    loan = Loan(serial_id=serial.id, part_id=serial.part_id, warehouse_id=wh, ticket_id=ticket.id,
                branch_id=ticket.branch_id, customer_id=ticket.customer_id, lent_at=now,
                due_back_on=body.due_back_on, note=body.note, created_by=principal.name[:200],
                created_at=now, updated_at=now)  # fmt: skip
    try:
        async with uow.session.begin_nested():
            repo.add(uow, loan)
            await repo.flush(uow)
    except IntegrityError as exc:  # the serial's lock makes this a backstop only
        raise Conflict(f"Serial {serial.serial} is out on loan already.",
                       serial=serial.serial) from exc  # fmt: skip
    to = Place("customer", customer_id=ticket.customer_id)
    line = Line(serial.part_id, wh, -1, "loaner", serial.id, to=to)
    await ledger.post(uow, principal, "loan_out", [line], _refs(loan, body.note))
    await _schedule(uow, loan, now)
    return await _announce(uow, principal, loan, "lent", note=body.note), True


def _refs(loan: Loan, reason: str | None = None) -> Refs:
    return Refs(ticket_id=loan.ticket_id, loan_id=loan.id, reason=reason)


# --- the loan's end, and its due date -------------------------------------------------


async def get_loan(
    uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID, lock: bool = False
) -> Loan:
    found = await repo.get_loan(uow, principal, loan_id, lock=lock)
    if found is None:
        raise NotFound("Loan not found.")
    return found


async def _open_loan(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID,
                     action: str) -> Loan:  # fmt: skip
    loan = await get_loan(uow, principal, loan_id, lock=True)
    if loan.state != "out":
        raise InvalidTransition(f"Cannot {action} a loan that is '{loan.state}'.",
                                current_state=loan.state, allowed_actions=[])  # fmt: skip
    return loan


async def _end(
    uow: UnitOfWork, principal: Principal, loan: Loan, state: str, **fields: Any
) -> None:
    now = get_clock().now()
    loan.state, loan.ended_at, loan.ended_by = state, now, principal.name[:200]
    for name, value in fields.items():
        setattr(loan, name, value)
    loan.version += 1
    loan.updated_at = now
    await timers.cancel(uow, REMINDER_TIMER, [loan.id])
    await timers.cancel(uow, OVERDUE_TIMER, [loan.id])
    await repo.flush(uow)


async def return_loan(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID,
                      body: LoanReturnIn) -> LoanOut:  # fmt: skip
    loan = await _open_loan(uow, principal, loan_id, "return")
    wh = await catalogue.warehouse_in_body(uow, principal, body.warehouse_id, "warehouse_id",
                                           write=True)  # fmt: skip
    good = body.condition == "good"
    to = Place("warehouse", body.condition, wh.id, loaner=good)
    line = Line(loan.part_id, wh.id, 1, "loaner" if good else "defective", loan.serial_id, to=to)
    await ledger.post(uow, principal, "loan_in", [line], _refs(loan))
    await _end(uow, principal, loan, "returned", returned_to_id=wh.id,
               return_condition=body.condition)  # fmt: skip
    return await _announce(uow, principal, loan, "returned", returned_to_id=str(wh.id),
                           condition=body.condition)  # fmt: skip


async def sell(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID,
               body: LoanSellIn) -> LoanOut:  # fmt: skip
    """The customer keeps the unit, bought: no stock moves (it left with the loan), the
    serial stays with the customer as an ordinary unit."""
    loan = await _open_loan(uow, principal, loan_id, "sell")
    to = Place("customer", customer_id=loan.customer_id, loaner=False)
    line = Line(loan.part_id, loan.warehouse_id, 0, "loaner", loan.serial_id, to=to)
    await ledger.post(uow, principal, "loan_sold", [line], _refs(loan, body.note))
    await _end(uow, principal, loan, "sold", end_reason=body.note)
    return await _announce(uow, principal, loan, "sold", note=body.note)


async def write_off(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID,
                    body: LoanWriteOffIn) -> LoanOut:  # fmt: skip
    loan = await _open_loan(uow, principal, loan_id, "write off")
    to = Place("scrapped", loaner=False)
    line = Line(loan.part_id, loan.warehouse_id, 0, "loaner", loan.serial_id, to=to)
    await ledger.post(uow, principal, "loan_written_off", [line], _refs(loan, body.reason))
    await _end(uow, principal, loan, "written_off", end_reason=body.reason)
    return await _announce(uow, principal, loan, "written_off", reason=body.reason)


async def extend(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID, body: LoanUpdate,
                 if_match: str | None) -> LoanOut:  # fmt: skip
    loan = await get_loan(uow, principal, loan_id, lock=True)
    check_if_match(if_match, loan.version)
    if loan.state != "out":
        raise InvalidTransition(f"Cannot extend a loan that is '{loan.state}'.",
                                current_state=loan.state, allowed_actions=[])  # fmt: skip
    if body.due_back_on == loan.due_back_on:
        return await _view(uow, loan)
    now = get_clock().now()
    _check_due(body.due_back_on, now)
    if body.due_back_on < loan.due_back_on:
        raise Unprocessable(f"due_back_on must be after the current one ({loan.due_back_on}).",
                            field="due_back_on")  # fmt: skip
    before = loan.due_back_on
    loan.due_back_on = body.due_back_on
    # The reminder and the overdue notice are the new date's to give.
    loan.reminded_at = loan.overdue_noticed_at = None
    loan.version += 1
    loan.updated_at = now
    await _schedule(uow, loan, now)
    await repo.flush(uow)
    return await _announce(uow, principal, loan, "extended", due_back_on_before=before.isoformat())


# --- reads --------------------------------------------------------------------------


async def loan_out(uow: UnitOfWork, principal: Principal, loan_id: uuid.UUID) -> LoanOut:
    return await _view(uow, await get_loan(uow, principal, loan_id))


async def list_loans(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    state: str | None = None,
    customer_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
    overdue: bool | None = None,
) -> Page[LoanOut]:
    now = get_clock().now()
    rows = await repo.list_loans(uow, principal, limit=page.limit, after=page.after,
                                 today=business_date(now), state=state,
                                 customer_id=customer_id, ticket_id=ticket_id,
                                 overdue=overdue)  # fmt: skip
    result = make_page([loan for loan, _, _ in rows], page.limit)
    names = {loan.id: (serial, number) for loan, serial, number in rows}
    items = [out_of(loan, *names[loan.id], now) for loan in result.items]
    return Page[LoanOut](items=items, next_cursor=result.next_cursor)


# --- timers -------------------------------------------------------------------------


async def reminder_due(uow: UnitOfWork, loan_id: uuid.UUID, now: datetime) -> datetime | None:
    """`loan.due_soon`, once for the due date, if the loan is still out (read again under
    its lock: the timer may run after a return, or twice)."""
    loan = await repo.get_loan(uow, None, loan_id, lock=True)
    if loan is None or loan.state != "out" or loan.reminded_at is not None:
        return None
    if now < reminder_at(loan):
        return reminder_at(loan)  # the date moved later: wait for it
    loan.reminded_at = now
    loan.version += 1
    loan.updated_at = now
    await repo.flush(uow)
    await _announce(uow, timeline.SYSTEM, loan, "due_soon")
    return None


async def overdue_due(uow: UnitOfWork, loan_id: uuid.UUID, now: datetime) -> datetime | None:
    """`loan.overdue`, once for the due date, if the loan is still out at its end."""
    loan = await repo.get_loan(uow, None, loan_id, lock=True)
    if loan is None or loan.state != "out" or loan.overdue_noticed_at is not None:
        return None
    if now < overdue_at(loan):
        return overdue_at(loan)
    loan.overdue_noticed_at = now
    loan.version += 1
    loan.updated_at = now
    await repo.flush(uow)
    await _announce(uow, timeline.SYSTEM, loan, "overdue")
    return None
