"""Part requests (备件申请) on tickets: found, reserved, approved, dispatched against the
part-on-site SLA, delivered, fitted (the ledger's issue), and the defective part's
return awaited by a timer; cancelled or rejected, they release their reservation.

Lock order, everywhere: the ticket, then the SLA clock (sla), then stock balances in
(part, warehouse) order (ledger), then serials in id order. A request with several
lines reserves them in part order and holds at most one balance of a part: a warehouse
tried and found short is released at once (a savepoint), so two requests can wait for
each other's lock but never in a cycle. A lock is waited for, never skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.contracts.service import business_today
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from app.core.security import Principal
from app.devices import service as devices
from app.parts.models import OPEN_REQUEST_STATES, Part, PartRequest, Reservation, Serial
from app.parts.repository import numbers
from app.parts.repository import requests as repo
from app.parts.schemas.requests import (
    DefectiveReturnIn,
    FitIn,
    PartRequestCreate,
    PartRequestOut,
    RequestLineIn,
    ReservationOut,
)
from app.parts.service import catalogue, ledger, serials, timeline, warranty
from app.parts.service.ledger import Line, Place, Refs
from app.people import service as people
from app.sla import service as sla
from app.tickets import interface as tickets
from app.tickets.interface import Ticket
from app.timers import service as timers

RETURN_TIMER = "parts.defective_return_due"
# What each step may follow.
_FROM = {
    "approve": ("awaiting_approval",),
    "reject": ("awaiting_approval",),
    "dispatch": ("approved",),
    "deliver": ("dispatched",),
    "fit": ("dispatched", "delivered"),
    "return": ("fitted",),
    "close": ("fitted",),
    "cancel": ("awaiting_approval", "approved", "dispatched", "delivered"),
}


class PartDiscontinued(Conflict):
    slug, title = "part-discontinued", "The part is discontinued"


def _allowed(state: str) -> list[str]:
    return [step for step, states in _FROM.items() if state in states]


def _check_step(req: PartRequest, step: str) -> None:
    if req.state not in _FROM[step]:
        raise InvalidTransition(
            f"Cannot {step} a part request that is '{req.state}'.",
            current_state=req.state,
            allowed_actions=_allowed(req.state),
        )


@dataclass
class _Plan:
    """One line, resolved: the part to reserve (a substitute, perhaps) and where."""

    line: RequestLineIn
    part: Part
    requested: Part | None
    order: list[uuid.UUID] = field(default_factory=list)  # candidate warehouses
    warehouse_id: uuid.UUID | None = None
    serials: list[Serial] = field(default_factory=list)


# --- creating -----------------------------------------------------------------------------


async def _resolve(uow: UnitOfWork, line: RequestLineIn, i: int) -> _Plan:
    part = await catalogue.part_in_body(uow, line.part_id, f"lines.{i}.part_id")
    if part.lifecycle != "discontinued":
        return _Plan(line, part, None)
    sub = await catalogue.substitute_of(uow, part)
    if sub is None or sub.lifecycle == "discontinued" or not line.use_substitute:
        raise PartDiscontinued(
            f"Part {part.number} is discontinued (停产)"
            + (f": its substitute is {sub.number}; ask again with use_substitute." if sub else ".")
            + (f" Alternative: {part.alternative}" if part.alternative else ""),
            part_id=str(part.id),
            substitute={"id": str(sub.id), "number": sub.number, "name": sub.name} if sub else None,
            alternative=part.alternative,
        )
    return _Plan(line, sub, part)


async def _approval_reasons(
    uow: UnitOfWork, ticket: Ticket, device: Any, part: Part, value: Decimal
) -> list[str]:
    reasons = []
    if ticket.contract_id is None:
        reasons.append("uncontracted")
    else:
        fits = device is not None and await catalogue.part_fits(
            uow, part.id, device.product_family, device.model
        )
        if not fits:
            reasons.append("not_covered")
    if value > get_settings().parts_approval_threshold:
        reasons.append("above_threshold")
    return reasons


async def _reserve_serials(uow: UnitOfWork, plan: _Plan, chosen: uuid.UUID) -> None:
    """Named serials: all in one warehouse (the chosen one, if any), good, not loaners,
    not reserved by another request."""
    part, numbers_ = plan.part, plan.line.serials or []
    found = [await serials.serial_by_number(uow, part.id, n) for n in numbers_]
    if any(s is None for s in found):
        raise Unprocessable(f"A serial of {part.number} is not known.", field="serials")
    wh = chosen
    key = (part.id, wh)
    balance = (await ledger.lock_balances(uow, [key]))[key]
    locked = await ledger.lock_serials(uow, [s.id for s in found if s is not None])
    for s in locked.values():
        if (s.place, s.warehouse_id, s.condition, s.loaner) != ("warehouse", wh, "good", False):
            raise Conflict(f"Serial {s.serial} is not free stock in that warehouse.",
                           serial=s.serial, place=s.place)  # fmt: skip
        if await repo.serial_reserved(uow, s.id):
            raise Conflict(f"Serial {s.serial} is reserved by another request.", serial=s.serial)
    await ledger.hold(uow, part, wh, plan.line.quantity, balance)
    plan.warehouse_id, plan.serials = wh, list(locked.values())


async def _try(uow: UnitOfWork, plan: _Plan, wh: uuid.UUID, savepoint: bool = True) -> bool:
    """Reserves the line in `wh` if it has enough now (its balance locked and checked);
    if not, the savepoint's rollback lets the lock go. The only candidate needs no
    savepoint: a refusal then rolls the whole request back anyway."""
    part, qty = plan.part, plan.line.quantity
    sp = await repo.savepoint(uow) if savepoint else None
    key = (part.id, wh)
    balance = (await ledger.lock_balances(uow, [key]))[key]
    free = await repo.free_serials(uow, part.id, wh, qty) if part.serialised else []
    if balance.on_hand - balance.reserved < qty or (part.serialised and len(free) < qty):
        if sp is not None:
            await sp.rollback()
        return False
    await ledger.hold(uow, part, wh, qty, balance)
    if sp is not None:
        await sp.commit()
    plan.warehouse_id, plan.serials = wh, free
    return True


async def _candidates(
    uow: UnitOfWork, principal: Principal, ticket: Ticket, plan: _Plan, i: int
) -> None:
    """The warehouses a line may be reserved in, in order: the one named, the one its
    named serials are in, or the branch's order by nearness; those without enough
    available units (read without locks) left out. None left: 409 with where it is."""
    if plan.line.warehouse_id is not None:
        wh = await catalogue.warehouse_in_body(uow, principal, plan.line.warehouse_id,
                                               f"lines.{i}.warehouse_id")  # fmt: skip
        order = [wh.id]
    elif plan.line.serials:
        found = await serials.serial_by_number(uow, plan.part.id, plan.line.serials[0])
        if found is None or found.warehouse_id is None:
            raise Conflict(f"Serial {plan.line.serials[0]} is not in stock.", field="serials")
        order = [found.warehouse_id]
    else:
        order = await catalogue.nearest_warehouses(uow, ticket.branch_id, ticket.contract_id)
    available = await repo.available_in(uow, plan.part.id, order)
    plan.order = [
        w for w in order if plan.line.serials or available.get(w, 0) >= plan.line.quantity
    ]
    if not plan.order:
        best = max(order, key=lambda w: available.get(w, 0), default=None)
        have = max(available.get(best, 0), 0) if best else 0
        raise await ledger.insufficient(uow, plan.part, best or uuid.UUID(int=0),
                                        plan.line.quantity, have, "unit(s)")  # fmt: skip


async def _reserve(uow: UnitOfWork, plan: _Plan, i: int) -> None:
    if plan.line.serials:
        await _reserve_serials(uow, plan, plan.order[0])
        return
    if len(plan.order) == 1:
        if await _try(uow, plan, plan.order[0], savepoint=False):
            return
    else:
        for wh_id in plan.order:
            if await _try(uow, plan, wh_id):
                return
    # Taken by others between the look and the lock: say what is left, and where.
    key = (plan.part.id, plan.order[0])
    balance = (await ledger.lock_balances(uow, [key]))[key]
    raise await ledger.insufficient(uow, plan.part, plan.order[0], plan.line.quantity,
                                    max(balance.on_hand - balance.reserved, 0), "unit(s)")  # fmt: skip


async def _device_and_warranty(uow: UnitOfWork, ticket: Ticket) -> tuple[Any, dict[str, Any]]:
    """The ticket's device (read once: the warranty and the coverage both need it) and
    the warranty decision the request records."""
    on = business_today()
    found = await devices.devices_by_ids(uow, [ticket.device_id]) if ticket.device_id else []
    if not found:
        return None, warranty.none_decision(on)
    return found[0], await warranty.decide_for(uow, found[0], on)


async def _check_destination(
    uow: UnitOfWork, principal: Principal, body: PartRequestCreate
) -> None:
    if body.engineer_id is None:
        return
    try:
        await people.get_engineer(uow, principal, body.engineer_id)
    except NotFound as exc:
        raise Unprocessable("engineer_id does not name an engineer.", field="engineer_id") from exc


async def create(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, body: PartRequestCreate,
    channel: str | None,
) -> list[PartRequest]:  # fmt: skip
    return [req for req, _ in await _create(uow, principal, ticket_id, body, channel)]


async def create_out(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, body: PartRequestCreate,
    channel: str | None,
) -> list[PartRequestOut]:  # fmt: skip
    """`create`, answered from what it wrote (no read back)."""
    made = await _create(uow, principal, ticket_id, body, channel)
    await repo.flush(uow)
    return [_out(req, holds) for req, holds in made]


def _out(req: PartRequest, holds: list[Reservation]) -> PartRequestOut:
    return PartRequestOut.model_validate(req).model_copy(
        update={"reservations": [ReservationOut.model_validate(h) for h in holds]}
    )


async def _create(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, body: PartRequestCreate,
    channel: str | None,
) -> list[tuple[PartRequest, list[Reservation]]]:  # fmt: skip
    """Everything but the reservations is done first, with the warehouse each line will
    most likely take (read without locks); the balances are locked last, so a hot
    part's balance is held only for the reservation and the commit."""
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    if ticket.status not in tickets.OPEN_STATUSES:
        raise InvalidTransition(f"A {ticket.status} ticket takes no part requests.",
                                current_state=ticket.status, allowed_actions=[])  # fmt: skip
    await _check_destination(uow, principal, body)
    plans = [await _resolve(uow, line, i) for i, line in enumerate(body.lines)]
    if len({p.part.id for p in plans}) != len(plans):
        raise Unprocessable("Two lines ask for the same part (a substitute).", field="lines")
    for i, plan in enumerate(plans):
        await _candidates(uow, principal, ticket, plan, i)
    now = get_clock().now()
    device, decision = await _device_and_warranty(uow, ticket)
    clock = await sla.start_part_clock(uow, ticket, now)
    due_at = clock.due_at if clock and clock.state == "running" else None
    out = [
        await _record(uow, principal, ticket, device, plan, body, decision, due_at)
        for plan in plans
    ]
    await repo.flush(uow)
    if body.wait_for_parts and ticket.status == "in_progress":
        await tickets.act(uow, principal, ticket.id, "wait", {"on": "parts"}, None, channel)
    # Reserve in part order: the one lock order (module docstring).
    for i, plan in sorted(enumerate(plans), key=lambda ip: ip[1].part.id):
        await _reserve(uow, plan, i)
    made = []
    for req, plan in zip(out, plans, strict=True):
        made.append((req, _hold_rows(uow, req, plan)))
        await timeline.note(uow, principal, ticket, "part_request.created", _data(req), channel)
    return made


async def _record(
    uow: UnitOfWork, principal: Principal, ticket: Ticket, device: Any, plan: _Plan,
    body: PartRequestCreate, decision: dict[str, Any], due_at: Any,
) -> PartRequest:  # fmt: skip
    """The request row, in the warehouse the line will most likely take (`_reserve`
    moves it if another request took the stock meanwhile)."""
    now = get_clock().now()
    value = (plan.part.unit_cost * plan.line.quantity).quantize(Decimal("0.01"))
    reasons = await _approval_reasons(uow, ticket, device, plan.part, value)
    req = PartRequest(
        number=await numbers.next_number(uow, "PR", now.year),
        ticket_id=ticket.id,
        branch_id=ticket.branch_id,
        part_id=plan.part.id,
        requested_part_id=plan.requested.id if plan.requested else None,
        quantity=plan.line.quantity,
        warehouse_id=plan.order[0],
        destination=body.destination,
        engineer_id=body.engineer_id,
        address=body.address,
        state="awaiting_approval" if reasons else "approved",
        value=value,
        currency=plan.part.currency,
        approval_reasons=reasons,
        warranty=decision,
        due_at=due_at,
        note=body.note,
        created_by=principal.name,
        created_at=now,
        updated_at=now,
    )
    repo.add(uow, req)
    return req


def _hold_rows(uow: UnitOfWork, req: PartRequest, plan: _Plan) -> list[Reservation]:
    """The reservation rows of a line reserved by `_reserve` (one per serial)."""
    assert plan.warehouse_id is not None
    req.warehouse_id = plan.warehouse_id
    if plan.serials:
        holds = [Reservation(request_id=req.id, part_id=plan.part.id, warehouse_id=plan.warehouse_id,
                             serial_id=s.id, quantity=1) for s in plan.serials]  # fmt: skip
    else:
        holds = [Reservation(request_id=req.id, part_id=plan.part.id,
                             warehouse_id=plan.warehouse_id, quantity=plan.line.quantity)]  # fmt: skip
    repo.add(uow, *holds)
    return holds


def _data(req: PartRequest, **extra: Any) -> dict[str, Any]:
    return {
        "part_request_id": str(req.id),
        "number": req.number,
        "part_id": str(req.part_id),
        "quantity": req.quantity,
        "warehouse_id": str(req.warehouse_id),
        "state": req.state,
        "due_at": req.due_at.isoformat() if req.due_at else None,
        "approval_reasons": req.approval_reasons,
        **extra,
    }


# --- steps --------------------------------------------------------------------------------


async def _load(
    uow: UnitOfWork, principal: Principal, request_id: uuid.UUID
) -> tuple[Ticket, PartRequest]:
    """The request and its ticket, locked ticket first (the lock order)."""
    found = await repo.get(uow, principal, request_id)
    if found is None:
        raise NotFound("Part request not found.")
    ticket = await tickets.get_for_update(uow, principal, found.ticket_id)
    req = await repo.get(uow, principal, request_id, lock=True)
    assert req is not None
    return ticket, req


def _moved(req: PartRequest, state: str) -> None:
    now = get_clock().now()
    req.state, req.updated_at, req.version = state, now, req.version + 1
    if state in ("rejected", "cancelled", "closed"):
        req.ended_at = now


async def _release(uow: UnitOfWork, req: PartRequest) -> None:
    held = await repo.reservations_of(uow, [req.id], active_only=True)
    await ledger.release(uow, [((h.part_id, h.warehouse_id), h.quantity) for h in held])
    now = get_clock().now()
    for h in held:
        h.state, h.ended_at = "released", now


async def _after_delivery_or_end(
    uow: UnitOfWork, principal: Principal, ticket: Ticket, req: PartRequest, met: bool,
    channel: str | None,
) -> None:  # fmt: skip
    """When no request of the ticket is still on its way: its part-on-site clock stops
    (met by the delivery, or cancelled), and a ticket waiting on parts resumes."""
    await repo.flush(uow)
    if await repo.undelivered_count(uow, ticket.id):
        return
    now = get_clock().now()
    await sla.stop_part_clock(uow, ticket, "met" if met else "cancelled", now)
    still_open = await repo.undelivered_count(uow, ticket.id, ("delivered",))
    if ticket.status == "waiting_parts" and (met or not still_open):
        await tickets.act(uow, principal, ticket.id, "resume", {}, None, channel)


async def step(
    uow: UnitOfWork, principal: Principal, request_id: uuid.UUID, action: str,
    note: str | None, channel: str | None,
) -> PartRequest:  # fmt: skip
    """approve, reject, dispatch, deliver or cancel."""
    ticket, req = await _load(uow, principal, request_id)
    _check_step(req, action)
    now = get_clock().now()
    if action in ("approve", "reject"):
        req.approved_by, req.approved_at, req.decision_note = principal.name, now, note
    if action in ("reject", "cancel"):
        await _release(uow, req)
    if action == "dispatch":
        req.dispatched_at = now
    if action == "deliver":
        req.delivered_at = now
    state = {"approve": "approved", "reject": "rejected", "dispatch": "dispatched",
             "deliver": "delivered", "cancel": "cancelled"}[action]  # fmt: skip
    _moved(req, state)
    await timeline.note(uow, principal, ticket, f"part_request.{state}", _data(req, note=note),
                        channel)  # fmt: skip
    if action in ("deliver", "reject", "cancel"):
        await _after_delivery_or_end(uow, principal, ticket, req, action == "deliver", channel)
    return req


async def fit(
    uow: UnitOfWork, principal: Principal, request_id: uuid.UUID, body: FitIn,
    channel: str | None,
) -> PartRequest:  # fmt: skip
    """The part is fitted: the ledger's issue (the reservation consumed, serials to the
    customer's device), and the defective part's return awaited."""
    ticket, req = await _load(uow, principal, request_id)
    _check_step(req, "fit")
    now = get_clock().now()
    held = await repo.reservations_of(uow, [req.id], active_only=True)
    to = Place("customer", customer_id=ticket.customer_id, device_id=ticket.device_id)
    lines = [Line(h.part_id, h.warehouse_id, -h.quantity, "good", h.serial_id,
                  to if h.serial_id else None) for h in held]  # fmt: skip
    release = [((h.part_id, h.warehouse_id), h.quantity) for h in held]
    await ledger.post(uow, principal, "issue", lines,
                      Refs(ticket_id=ticket.id, request_id=req.id), release=release,
                      reserved_serials=[h.serial_id for h in held if h.serial_id])  # fmt: skip
    for h in held:
        h.state, h.ended_at = "consumed", now
    was_delivered = req.state == "delivered"
    req.delivered_at = req.delivered_at or now
    req.fitted_at = now
    if body.return_expected:
        req.return_due_at = now + timedelta(days=get_settings().parts_defective_return_days)
        await timers.schedule(uow, RETURN_TIMER, req.id, req.return_due_at)
    _moved(req, "fitted" if body.return_expected else "closed")
    await timeline.note(uow, principal, ticket, "part_request.fitted", _data(req, note=body.note),
                        channel)  # fmt: skip
    if not was_delivered:
        await _after_delivery_or_end(uow, principal, ticket, req, True, channel)
    return req


async def defective_return(
    uow: UnitOfWork, principal: Principal, request_id: uuid.UUID, body: DefectiveReturnIn,
    channel: str | None,
) -> PartRequest:  # fmt: skip
    """The defective part taken off comes back into the warehouse's defective stock."""
    ticket, req = await _load(uow, principal, request_id)
    _check_step(req, "return")
    wh = await catalogue.warehouse_in_body(uow, principal, body.warehouse_id)
    part = await catalogue.get_part(uow, req.part_id)
    numbers_ = body.serials or []
    if part.serialised and len(numbers_) != req.quantity:
        raise Unprocessable("Give the serial of each defective unit.", field="serials")
    if not part.serialised and numbers_:
        raise Unprocessable(f"Part {part.number} is not serialised.", field="serials")
    here = Place("warehouse", "defective", wh.id, loaner=False)
    lines = []
    for n in numbers_:
        s = await serials.serial_by_number(uow, part.id, n) or await serials.new_serial(
            uow, part.id, n, Place("customer", customer_id=ticket.customer_id)
        )
        lines.append(Line(part.id, wh.id, 1, "defective", s.id, here))
    if not part.serialised:
        lines = [Line(part.id, wh.id, req.quantity, "defective")]
    await ledger.post(uow, principal, "return_defective", lines,
                      Refs(ticket_id=ticket.id, request_id=req.id, reason=body.note))  # fmt: skip
    await timers.cancel(uow, RETURN_TIMER, [req.id])
    req.returned_at = get_clock().now()
    _moved(req, "closed")
    await timeline.note(uow, principal, ticket, "part_request.defective_returned",
                        _data(req, returned_to=str(wh.id)), channel)  # fmt: skip
    return req


async def close(uow: UnitOfWork, principal: Principal, request_id: uuid.UUID, note: str | None,
                channel: str | None) -> PartRequest:  # fmt: skip
    """A fitted request whose defective part will not come back (kept by the customer,
    scrapped on site): closed, with the reason."""
    ticket, req = await _load(uow, principal, request_id)
    _check_step(req, "close")
    if note is None:
        raise Unprocessable("Say why the defective part does not come back.", field="note")
    await timers.cancel(uow, RETURN_TIMER, [req.id])
    _moved(req, "closed")
    await timeline.note(uow, principal, ticket, "part_request.closed", _data(req, note=note),
                        channel)  # fmt: skip
    return req


# --- what the ticket's own changes do -----------------------------------------------------


async def open_count(uow: UnitOfWork, ticket_id: uuid.UUID) -> int:
    return await repo.undelivered_count(uow, ticket_id, OPEN_REQUEST_STATES)


async def cancel_open(uow: UnitOfWork, actor: Any, ticket: Ticket, reason: str) -> None:
    """The ticket was cancelled or closed: its requests not yet fitted end, and their
    reservations go back to stock."""
    for req in await repo.of_ticket(uow, ticket.id, lock=True):
        if req.state in _FROM["cancel"]:
            await _release(uow, req)
            _moved(req, "cancelled")
            await timeline.note(uow, actor, ticket, "part_request.cancelled",
                                _data(req, note=reason))  # fmt: skip
    await sla.stop_part_clock(uow, ticket, "cancelled", get_clock().now())


async def return_overdue(uow: UnitOfWork, request_id: uuid.UUID) -> None:
    """The timer: the defective part is not back by its due time (a timer may fire
    twice; only a request still waiting for it is noted)."""
    req = await repo.get_any(uow, request_id, lock=True)
    if req is None or req.state != "fitted" or req.returned_at is not None:
        return
    await timeline.note(uow, timeline.SYSTEM, req.ticket_id, "part_request.return_overdue",
                        _data(req))  # fmt: skip


# --- reading ------------------------------------------------------------------------------


async def get(uow: UnitOfWork, principal: Principal, request_id: uuid.UUID) -> PartRequest:
    req = await repo.get(uow, principal, request_id)
    if req is None:
        raise NotFound("Part request not found.")
    return req


async def outs(uow: UnitOfWork, rows: list[PartRequest]) -> list[PartRequestOut]:
    held = await repo.reservations_of(uow, [r.id for r in rows])
    by: dict[uuid.UUID, list[ReservationOut]] = {}
    for h in held:
        by.setdefault(h.request_id, []).append(ReservationOut.model_validate(h))
    return [
        PartRequestOut.model_validate(r).model_copy(update={"reservations": by.get(r.id, [])})
        for r in rows
    ]


async def of_ticket(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[PartRequest]:
    await tickets.get(uow, principal, ticket_id)
    return await repo.of_ticket(uow, ticket_id)


async def list_requests(uow: UnitOfWork, principal: Principal, limit: int, after: uuid.UUID | None,
                        **filters: Any) -> list[PartRequest]:  # fmt: skip
    return await repo.list_requests(uow, principal, limit=limit, after=after, **filters)
