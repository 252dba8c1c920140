"""RMAs (返修): a device or a part goes back to its vendor for repair, under a return
authorisation valid for a number of days (RMA有效时限).

States and steps (each step path-named, as `allowed_actions` lists them):

    authorised --receive--> received --send-to-vendor--> in_repair
    in_repair --repaired | replaced | rejected--> repaired | replaced | rejected
    repaired | replaced | rejected --ship-back--> shipped_back --close--> closed
    repaired | replaced | rejected --close--> closed   (the part stays in stock)
    authorised --cancel--> cancelled;  authorised --(validity ends: timer)--> expired

A device moves no stock (the installed base is not stock). A part's steps are ledger
postings in the warehouse it is received in:

- receive: `return_defective`, defective +qty; the serial to that warehouse, defective.
  A serial already held there as defective (a part request's returned part) is taken as
  it is, with no posting: it is counted there already.
- send-to-vendor: `vendor_out`, defective -qty; the serial to the vendor.
- repaired: `vendor_in`, good +qty; the serial back in the warehouse, good.
- replaced: `vendor_in`, good +qty of the vendor's new unit (a new serial, which arrives
  from the vendor). The old serial stays with the vendor for good: the same posting
  marks it scrapped with a 0-quantity `vendor_in` line, so its history ends with the
  batch that replaced it and no report counts it as still expected back.
- rejected: `vendor_in`, defective +qty; the serial back in the warehouse, defective.
- ship-back (a part with a customer to go back to): `issue` -qty from good stock (or
  from defective stock after a rejection); the serial to the customer (on the ticket's
  device).
- close without shipping back: the repaired (or rejected) part stays in stock.

Every step appends to `history`, bumps `version`, notes the ticket's timeline (when
there is a ticket) and publishes `rma.<state>` in the outbox (aggregate "rma").
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from app.contracts import service as contracts
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.customers import service as customers
from app.devices import service as devices
from app.outbox.service import publish
from app.parts.models import Rma, Serial
from app.parts.repository import rma as repo
from app.parts.repository.numbers import next_number
from app.parts.schemas.rma import (
    RmaCreate,
    RmaNoteBody,
    RmaOut,
    RmaReceiveBody,
    RmaRejectedBody,
    RmaReplacedBody,
    RmaSendBody,
)
from app.parts.schemas.warranty import WarrantyOut
from app.parts.service import catalogue, ledger, serials, timeline, warranty
from app.parts.service.ledger import Line, Place, Posting, Refs
from app.tickets import interface as tickets
from app.tickets.interface import Ticket
from app.timers import service as timers

EXPIRY_TIMER = "parts.rma_expiry"
SYSTEM = timeline.SYSTEM
_BACK_FROM_VENDOR = ("repaired", "replaced", "rejected")
_NEXT: dict[str, tuple[str, ...]] = {
    "authorised": ("receive", "cancel"),
    "received": ("send-to-vendor",),
    "in_repair": ("repaired", "replaced", "rejected"),
    "repaired": ("ship-back", "close"),
    "replaced": ("ship-back", "close"),
    "rejected": ("ship-back", "close"),
    "shipped_back": ("close",),
}


# --- reading ----------------------------------------------------------------------------


def allowed_actions(rma: Rma) -> list[str]:
    """The steps possible now. Shipping a part back needs a customer to ship it to."""
    actions = list(_NEXT.get(rma.state, ()))
    if rma.device_id is None and rma.customer_id is None and "ship-back" in actions:
        actions.remove("ship-back")
    return actions


def to_out(rma: Rma) -> RmaOut:
    return RmaOut(
        id=rma.id, number=rma.number, branch_id=rma.branch_id, customer_id=rma.customer_id,
        ticket_id=rma.ticket_id, device_id=rma.device_id, part_id=rma.part_id,
        serial=rma.serial_number, serial_id=rma.serial_id, quantity=rma.quantity,
        replacement_serial=rma.replacement_serial_number,
        replacement_serial_id=rma.replacement_serial_id, warehouse_id=rma.warehouse_id,
        vendor=rma.vendor, reason=rma.reason, warranty=WarrantyOut.model_validate(rma.warranty),
        state=rma.state,  # type: ignore[arg-type]
        expires_at=rma.expires_at, received_at=rma.received_at, closed_at=rma.closed_at,
        history=rma.history,  # type: ignore[arg-type]
        allowed_actions=allowed_actions(rma), created_by=rma.created_by, version=rma.version,
        created_at=rma.created_at, updated_at=rma.updated_at,
    )  # fmt: skip


async def get(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID) -> Rma:
    found = await repo.get(uow, principal, rma_id)
    if found is None:
        raise NotFound("RMA not found.")
    return found


async def list_rmas(
    uow: UnitOfWork,
    principal: Principal,
    page: PageParams,
    *,
    state: str | None = None,
    open_only: bool | None = None,
    ticket_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    older_than_days: int | None = None,
) -> Page[Rma]:
    before = None
    if older_than_days is not None:
        before = get_clock().now() - timedelta(days=older_than_days)
    rows = await repo.list_rmas(
        uow, principal, limit=page.limit, after=page.after, state=state, open_only=open_only,
        ticket_id=ticket_id, customer_id=customer_id, created_before=before,
    )  # fmt: skip
    return make_page(rows, page.limit)


# --- recording a step -------------------------------------------------------------------


def _payload(rma: Rma, action: str, note: str | None, data: dict[str, Any]) -> dict[str, Any]:
    def s(v: uuid.UUID | None) -> str | None:
        return str(v) if v else None

    return {
        "rma_id": str(rma.id), "number": rma.number, "state": rma.state, "action": action,
        "branch_id": str(rma.branch_id), "customer_id": s(rma.customer_id),
        "ticket_id": s(rma.ticket_id), "device_id": s(rma.device_id), "part_id": s(rma.part_id),
        "serial": rma.serial_number, "quantity": rma.quantity,
        "warehouse_id": s(rma.warehouse_id), "vendor": rma.vendor, "note": note, **data,
    }  # fmt: skip


async def _record(
    uow: UnitOfWork,
    actor: Any,
    rma: Rma,
    action: str,
    state: str,
    now: datetime,
    note: str | None = None,
    ticket: Ticket | None = None,
    **data: Any,
) -> Rma:
    """Moves the RMA to `state`: history, version, ticket timeline, outbox."""
    rma.state = state
    actor_id = getattr(actor, "id", None)
    step = {"at": now.isoformat(), "action": action, "state": state,
            "actor": str(getattr(actor, "name", "Supportline"))[:200],
            "actor_id": str(actor_id) if actor_id else None, "note": note, "data": data}  # fmt: skip
    rma.history = [*rma.history, step]  # a new list: JSONB columns track assignment
    if action != "create":
        rma.version += 1
    rma.updated_at = now
    payload = _payload(rma, action, note, data)
    if rma.ticket_id is not None:
        await timeline.note(uow, actor, ticket or rma.ticket_id, f"rma.{state}", payload)
    publish(uow, f"rma.{state}", "rma", rma.id, payload)
    await repo.flush(uow)
    return rma


def _require(rma: Rma, action: str) -> None:
    allowed = allowed_actions(rma)
    if action not in allowed:
        detail = f"Cannot {action} an RMA that is '{rma.state}'."
        if action == "ship-back" and rma.state in _BACK_FROM_VENDOR:
            detail = "This part has no customer to be shipped back to: close the RMA instead."
        raise InvalidTransition(detail, current_state=rma.state, allowed_actions=allowed)


async def _locked(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID, action: str) -> Rma:
    found = await repo.get(uow, principal, rma_id, lock=True)
    if found is None:
        raise NotFound("RMA not found.")
    _require(found, action)
    return found


def _refs(rma: Rma, action: str) -> Refs:
    return Refs(ticket_id=rma.ticket_id, rma_id=rma.id, reason=f"{rma.number} {action}")


def _posted(posting: Posting | None) -> dict[str, Any]:
    return {"batch_id": str(posting.batch_id)} if posting else {}


# --- creating ---------------------------------------------------------------------------


async def _ticket(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    try:
        return await tickets.get_for_update(uow, principal, ticket_id)
    except NotFound as exc:
        raise Unprocessable("ticket_id does not name a ticket.", field="ticket_id") from exc


async def _device_subject(
    uow: UnitOfWork, principal: Principal, rma: Rma, device_id: uuid.UUID,
    ticket: Ticket | None,
) -> None:  # fmt: skip
    try:
        device = await devices.get_device(uow, principal, device_id)
    except NotFound as exc:
        raise Unprocessable("device_id does not name a device.", field="device_id") from exc
    if ticket is not None and ticket.customer_id != device.customer_id:
        raise Unprocessable("The device is not the ticket's customer's.", field="device_id")
    rma.device_id, rma.customer_id = device.id, device.customer_id
    rma.warranty = await warranty.decide_for(uow, device, contracts.business_today())


def _check_returnable(serial: Serial, customer_id: uuid.UUID | None) -> None:
    """A serial goes back from a customer, or from a warehouse's defective stock; not a
    loaner (it comes back through its loan and the pool), nor a unit that is in good
    stock, in transit, with a vendor or scrapped."""
    if serial.loaner:
        raise Conflict(f"Serial {serial.serial} is a loaner unit: take it out of the loaner "
                       "pool first.", field="serial", serial=serial.serial)  # fmt: skip
    at_customer = serial.place == "customer"
    if at_customer and customer_id and serial.customer_id not in (None, customer_id):
        raise Conflict(f"Serial {serial.serial} is recorded at another customer.",
                       field="serial", serial=serial.serial)  # fmt: skip
    if not at_customer and (serial.place, serial.condition) != ("warehouse", "defective"):
        where = serial.place if serial.place != "warehouse" else "good stock in a warehouse"
        raise Conflict(f"Serial {serial.serial} cannot go back under an RMA: it is {where}.",
                       field="serial", serial=serial.serial, place=serial.place)  # fmt: skip


async def _part_subject(uow: UnitOfWork, rma: Rma, body: RmaCreate, ticket: Ticket | None) -> None:
    assert body.part_id is not None
    part = await catalogue.part_in_body(uow, body.part_id)
    rma.part_id = part.id
    if not part.serialised:
        if body.serial is not None:
            raise Unprocessable(f"Part {part.number} is not serialised.", field="serial")
        rma.quantity = body.quantity or 1
        return
    if body.serial is None:
        raise Unprocessable(f"Part {part.number} is serialised: give its `serial`.",
                            field="serial")  # fmt: skip
    rma.serial_number, rma.quantity = body.serial.strip(), 1
    found = await serials.serial_by_number(uow, part.id, rma.serial_number)
    if found is not None:
        _check_returnable(found, rma.customer_id)
        rma.serial_id = found.id
        if found.place == "warehouse" and rma.warehouse_id is None:
            rma.warehouse_id = found.warehouse_id
    elif rma.customer_id is not None:
        # Unknown so far (fitted before the records): it is at the customer, faulty.
        where = Place("customer", "defective", customer_id=rma.customer_id,
                      device_id=ticket.device_id if ticket else None)  # fmt: skip
        rma.serial_id = (await serials.new_serial(uow, part.id, rma.serial_number, where)).id
    # Else it gets its row when it is received, in the warehouse.


async def _branch(uow: UnitOfWork, principal: Principal, rma: Rma, ticket: Ticket | None,
                  warehouse_branch: uuid.UUID | None) -> uuid.UUID:  # fmt: skip
    """The ticket's branch, else the device's customer's, else the warehouse's, else the
    key's own."""
    if ticket is not None:
        return ticket.branch_id
    if rma.customer_id is not None:
        customer = await customers.visible_customer(uow, principal, rma.customer_id)
        if customer is not None:
            return customer.branch_id
    branch = warehouse_branch or principal.branch_id
    if branch is None:
        raise Unprocessable("Name a ticket or the warehouse_id it will be received in.",
                            field="warehouse_id")  # fmt: skip
    return branch


async def create(uow: UnitOfWork, principal: Principal, body: RmaCreate) -> Rma:
    now = get_clock().now()
    today = contracts.business_today()
    ticket = await _ticket(uow, principal, body.ticket_id) if body.ticket_id else None
    warehouse = None
    if body.warehouse_id is not None:
        warehouse = await catalogue.warehouse_in_body(uow, principal, body.warehouse_id,
                                                      "warehouse_id")  # fmt: skip
    days = body.validity_days or get_settings().rma_validity_days
    rma = Rma(number="", branch_id=uuid.UUID(int=0), reason=body.reason, vendor=body.vendor,
              ticket_id=ticket.id if ticket else None,
              customer_id=ticket.customer_id if ticket else None,
              warehouse_id=warehouse.id if warehouse else None,
              expires_at=now + timedelta(days=days), created_by=principal.name[:200],
              created_at=now, updated_at=now)  # fmt: skip
    if body.device_id is not None:
        await _device_subject(uow, principal, rma, body.device_id, ticket)
    else:
        await _part_subject(uow, rma, body, ticket)
        rma.warranty = (
            await warranty.decide(uow, ticket.device_id, today)
            if ticket is not None and ticket.device_id is not None
            else warranty.none_decision(today)
        )
    if warehouse is None and rma.warehouse_id is not None:
        # The serial is held in a warehouse already: that warehouse's branch.
        warehouse = await catalogue.get_warehouse(uow, rma.warehouse_id)
    rma.branch_id = await _branch(uow, principal, rma, ticket,
                                  warehouse.branch_id if warehouse else None)  # fmt: skip
    await _refuse_second(uow, rma)
    rma.number = await next_number(uow, "RMA", today.year)
    if not await repo.insert(uow, rma):
        raise _already_open(rma, None)
    await timers.schedule(uow, EXPIRY_TIMER, rma.id, rma.expires_at)
    return await _record(uow, principal, rma, "create", "authorised", now, None, ticket,
                         validity_days=days)  # fmt: skip


def _already_open(rma: Rma, other: Rma | None) -> Conflict:
    what = "device" if rma.device_id else f"serial {rma.serial_number}"
    extra = {"rma_id": str(other.id), "rma_number": other.number} if other else {}
    return Conflict(f"An open RMA exists for this {what}.",
                    field="device_id" if rma.device_id else "serial", **extra)  # fmt: skip


async def _refuse_second(uow: UnitOfWork, rma: Rma) -> None:
    """One open RMA per device and per serial (a unique index holds it in a race)."""
    other = await repo.open_for_subject(uow, rma.device_id, rma.part_id, rma.serial_number)
    if other is not None:
        raise _already_open(rma, other)


# --- the part's stock at each step --------------------------------------------------------


async def _serial_for(uow: UnitOfWork, rma: Rma, warehouse_id: uuid.UUID) -> Serial | None:
    """The RMA's serial locked (after its balance: the ledger's lock order), or None when
    it has no row yet."""
    assert rma.part_id is not None
    await ledger.lock_balances(uow, [(rma.part_id, warehouse_id)])
    serial_id = rma.serial_id
    if serial_id is None and rma.serial_number is not None:
        found = await serials.serial_by_number(uow, rma.part_id, rma.serial_number)
        serial_id = found.id if found else None
    return await repo.lock_serial(uow, serial_id) if serial_id else None


async def _receive_part(uow: UnitOfWork, actor: Any, rma: Rma, wh: uuid.UUID) -> Posting | None:
    assert rma.part_id is not None
    refs = _refs(rma, "receive")
    if rma.serial_number is None:
        lines = [Line(rma.part_id, wh, rma.quantity, "defective")]
        return await ledger.post(uow, actor, "return_defective", lines, refs)
    here = Place("warehouse", "defective", warehouse_id=wh)
    serial = await _serial_for(uow, rma, wh)
    if serial is None:
        # First seen now: it comes from outside stock (a holder nobody recorded).
        outside = Place("customer", "defective", customer_id=rma.customer_id)
        serial = await serials.new_serial(uow, rma.part_id, rma.serial_number, outside)
    else:
        _check_returnable(serial, rma.customer_id)
        if serial.place == "warehouse":
            if serial.warehouse_id != wh:
                raise Conflict(
                    f"Serial {serial.serial} is defective stock in another warehouse: "
                    "receive it there.", field="warehouse_id",
                    serial_warehouse_id=str(serial.warehouse_id),
                )  # fmt: skip
            rma.serial_id = serial.id
            return None  # counted there already
    rma.serial_id = serial.id
    line = Line(rma.part_id, wh, 1, "defective", serial.id, to=here)
    return await ledger.post(uow, actor, "return_defective", [line], refs)


async def _expect_at_vendor(uow: UnitOfWork, rma: Rma, wh: uuid.UUID) -> None:
    """The vendor's answer moves the serial the RMA sent it: it must be with them still."""
    if rma.serial_id is None:
        return
    serial = await _serial_for(uow, rma, wh)
    if serial is None or serial.place != "vendor":
        raise Conflict(f"Serial {rma.serial_number} is no longer with the vendor.",
                       place=serial.place if serial else None)  # fmt: skip


def _where(rma: Rma) -> uuid.UUID:
    assert rma.part_id is not None and rma.warehouse_id is not None
    return rma.warehouse_id


# --- the steps --------------------------------------------------------------------------


async def receive(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                  body: RmaReceiveBody) -> Rma:  # fmt: skip
    """It arrived: in the warehouse named (the RMA's own unless given). A receipt that
    beats the expiry timer by moments wins: the timer finds it received."""
    rma = await _locked(uow, principal, rma_id, "receive")
    now = get_clock().now()
    posting = None
    wh_id = body.warehouse_id or rma.warehouse_id
    if rma.part_id is not None:
        if wh_id is None:
            raise Unprocessable("Name the warehouse_id the part arrives in.",
                                field="warehouse_id")  # fmt: skip
        wh = await catalogue.warehouse_in_body(uow, principal, wh_id, "warehouse_id", write=True)
        rma.warehouse_id = wh.id
        posting = await _receive_part(uow, principal, rma, wh.id)
    elif body.warehouse_id is not None:
        wh = await catalogue.warehouse_in_body(uow, principal, body.warehouse_id, "warehouse_id")
        rma.warehouse_id = wh.id
    rma.received_at = now
    await timers.cancel(uow, EXPIRY_TIMER, [rma.id])
    return await _record(uow, principal, rma, "receive", "received", now, body.note,
                         warehouse_id=str(rma.warehouse_id) if rma.warehouse_id else None,
                         **_posted(posting))  # fmt: skip


async def send_to_vendor(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                         body: RmaSendBody) -> Rma:  # fmt: skip
    rma = await _locked(uow, principal, rma_id, "send-to-vendor")
    vendor = body.vendor or rma.vendor
    if vendor is None:
        raise Unprocessable("Name the vendor it goes to.", field="vendor")
    rma.vendor = vendor
    posting = None
    if rma.part_id is not None:
        line = Line(rma.part_id, _where(rma), -rma.quantity, "defective", rma.serial_id,
                    to=Place("vendor", "defective") if rma.serial_id else None)  # fmt: skip
        posting = await ledger.post(uow, principal, "vendor_out", [line],
                                    _refs(rma, "send-to-vendor"))  # fmt: skip
    return await _record(uow, principal, rma, "send-to-vendor", "in_repair",
                         get_clock().now(), body.note, vendor=vendor, **_posted(posting))  # fmt: skip


async def _back(uow: UnitOfWork, actor: Any, rma: Rma, action: str, bucket: str) -> Posting | None:
    """Repaired or rejected: the unit comes back from the vendor into `bucket`."""
    if rma.part_id is None:
        return None
    wh = _where(rma)
    await _expect_at_vendor(uow, rma, wh)
    to = Place("warehouse", bucket, warehouse_id=wh) if rma.serial_id else None
    line = Line(rma.part_id, wh, rma.quantity, bucket, rma.serial_id, to=to)
    return await ledger.post(uow, actor, "vendor_in", [line], _refs(rma, action))


async def repaired(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                   body: RmaNoteBody) -> Rma:  # fmt: skip
    rma = await _locked(uow, principal, rma_id, "repaired")
    posting = await _back(uow, principal, rma, "repaired", "good")
    return await _record(uow, principal, rma, "repaired", "repaired", get_clock().now(),
                         body.note, **_posted(posting))  # fmt: skip


async def rejected(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                   body: RmaRejectedBody) -> Rma:  # fmt: skip
    """The vendor refused it (out of warranty, damage...): it comes back as it went."""
    rma = await _locked(uow, principal, rma_id, "rejected")
    posting = await _back(uow, principal, rma, "rejected", "defective")
    return await _record(uow, principal, rma, "rejected", "rejected", get_clock().now(),
                         body.note, **_posted(posting))  # fmt: skip


async def _replace_part(uow: UnitOfWork, actor: Any, rma: Rma, number: str | None) -> Posting:
    assert rma.part_id is not None
    wh = _where(rma)
    if rma.serial_id is None:
        if number is not None:
            raise Unprocessable("The part is not serialised: no replacement_serial.",
                                field="replacement_serial")  # fmt: skip
        line = Line(rma.part_id, wh, rma.quantity, "good")
        return await ledger.post(uow, actor, "vendor_in", [line], _refs(rma, "replaced"))
    if number is None:
        raise Unprocessable("Give the replacement_serial of the vendor's new unit.",
                            field="replacement_serial")  # fmt: skip
    await _expect_at_vendor(uow, rma, wh)
    new = await serials.new_serial(uow, rma.part_id, number, Place("vendor"))
    rma.replacement_serial_id = new.id
    lines = [
        # The old unit stays with the vendor: written off, no quantity (it left stock
        # when it was sent).
        Line(rma.part_id, wh, 0, "defective", rma.serial_id, to=Place("scrapped", "defective")),
        Line(rma.part_id, wh, 1, "good", new.id, to=Place("warehouse", "good", warehouse_id=wh)),
    ]
    return await ledger.post(uow, actor, "vendor_in", lines, _refs(rma, "replaced"))


async def replaced(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                   body: RmaReplacedBody) -> Rma:  # fmt: skip
    rma = await _locked(uow, principal, rma_id, "replaced")
    number = body.replacement_serial.strip() if body.replacement_serial else None
    posting = None
    if rma.part_id is not None:
        posting = await _replace_part(uow, principal, rma, number)
    rma.replacement_serial_number = number
    return await _record(uow, principal, rma, "replaced", "replaced", get_clock().now(),
                         body.note, replacement_serial=number, **_posted(posting))  # fmt: skip


async def ship_back(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID,
                    body: RmaNoteBody) -> Rma:  # fmt: skip
    """Back to the customer: a part leaves stock (good, or defective as the vendor
    returned it) for the customer, on the ticket's device; a device just goes."""
    rma = await _locked(uow, principal, rma_id, "ship-back")
    posting = None
    if rma.part_id is not None:
        bucket = "defective" if rma.state == "rejected" else "good"
        serial_id = rma.replacement_serial_id if rma.state == "replaced" else rma.serial_id
        to = None
        if serial_id is not None:
            ticket = await tickets.get_any(uow, rma.ticket_id) if rma.ticket_id else None
            to = Place("customer", bucket, customer_id=rma.customer_id,
                       device_id=ticket.device_id if ticket else None)  # fmt: skip
        line = Line(rma.part_id, _where(rma), -rma.quantity, bucket, serial_id, to=to)
        posting = await ledger.post(uow, principal, "issue", [line], _refs(rma, "ship-back"))
    return await _record(uow, principal, rma, "ship-back", "shipped_back", get_clock().now(),
                         body.note, **_posted(posting))  # fmt: skip


async def close(uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID, body: RmaNoteBody) -> Rma:
    rma = await _locked(uow, principal, rma_id, "close")
    now = get_clock().now()
    rma.closed_at = now
    return await _record(uow, principal, rma, "close", "closed", now, body.note)


async def cancel(
    uow: UnitOfWork, principal: Principal, rma_id: uuid.UUID, body: RmaNoteBody
) -> Rma:
    """Only before anything arrived: nothing has moved yet."""
    rma = await _locked(uow, principal, rma_id, "cancel")
    now = get_clock().now()
    rma.closed_at = now
    await timers.cancel(uow, EXPIRY_TIMER, [rma.id])
    return await _record(uow, principal, rma, "cancel", "cancelled", now, body.note)


# --- worker side ------------------------------------------------------------------------


async def expire(uow: UnitOfWork, rma_id: uuid.UUID, now: datetime) -> datetime | None:
    """The validity ended: an RMA still `authorised` expires (nothing arrived)."""
    # NOWAIT: a step locks the RMA before its timer, this firing holds the timer; if a
    # step is under way, the firing gives way and is retried.
    rma = await repo.get_nowait(uow, rma_id)
    if rma is None or rma.state != "authorised":
        return None
    if rma.expires_at > now:
        return rma.expires_at
    rma.closed_at = now
    await _record(uow, SYSTEM, rma, "expire", "expired", now)
    return None
