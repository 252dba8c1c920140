"""Escalation rules (DOMAIN section 5).

Functional escalation moves a ticket up the support lines: l1 -> l2 -> l3 (R&D) ->
vendor. To line 2 and to the vendor it happens at once (the escalation is recorded as
closed: the line has moved). To R&D it is a small workflow: requested with a fault
handling work order, approved by a manager of the requesting line, then accepted (naming
an R&D owner) or rejected back with advice by R&D's manager; R&D proposes closure and
the requester confirms (the ticket returns to the requesting line) or refuses.

Triggers: by hand with a reason; the Nth failed attempt (policy, N = 3 by default); an
SLA breach (or warning, per policy). Automatic triggers move a ticket from line 1 to line
2 only: going to R&D needs a person's work order and approval, so past line 1 an
automatic trigger puts `ticket.escalation_due` on the timeline for the line's people.
Every escalation locks the ticket first; a ticket already moved off line 1 is not moved
again by an automatic trigger, so a timer and a person escalating at once make one
escalation, not two.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.assignment import service as assignment
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unprocessable
from app.core.security import Principal, Role
from app.escalation import repository
from app.escalation.models import Escalation
from app.tickets import interface as tickets
from app.tickets.interface import OPEN_STATUSES, Ticket

LINES = ("l1", "l2", "l3", "vendor")
# The policy used when none is stored for a service level, nor a default ("*") one.
SYSTEM = tickets.SYSTEM
BUILTIN_POLICY: dict[str, Any] = {
    "failed_attempts": 3,
    "functional_on": "breach",
    "notify_levels": [
        {"level": 1, "after": "warning", "delay_minutes": 0, "recipients": ["team_manager"]},
        {"level": 2, "after": "breach", "delay_minutes": 0,
         "recipients": ["team_manager", "role:manager"]},
        {"level": 3, "after": "breach", "delay_minutes": 60, "recipients": ["role:admin"]},
    ],
}  # fmt: skip


async def policy_for(uow: UnitOfWork, service_level: str | None) -> dict[str, Any]:
    rows = await repository.policies_of(uow, [service_level or "*", "*"])
    found = {p.service_level: p for p in rows}
    p = found.get(service_level or "*") or found.get("*")
    if p is None:
        return dict(BUILTIN_POLICY)
    return {"failed_attempts": p.failed_attempts, "functional_on": p.functional_on,
            "notify_levels": p.notify_levels}  # fmt: skip


def next_line(line: str) -> str | None:
    i = LINES.index(line)
    return LINES[i + 1] if i + 1 < len(LINES) else None


async def _open_escalation(uow: UnitOfWork, ticket_id: uuid.UUID) -> Escalation | None:
    return await repository.lock_open_escalation(uow, ticket_id)


def _out(e: Escalation) -> dict[str, Any]:
    return {"escalation_id": str(e.id), "from_line": e.from_line, "to_line": e.to_line,
            "trigger": e.trigger, "reason": e.reason, "state": e.state}  # fmt: skip


async def escalate(
    uow: UnitOfWork,
    ticket: Ticket,
    actor: Any,
    trigger: str,
    reason: str,
    channel: str | None = None,
    to_line: str | None = None,
    work_order: dict[str, Any] | None = None,
    vendor: str | None = None,
    vendor_case_ref: str | None = None,
) -> Escalation | None:
    """Escalates a locked ticket one line up (or to `to_line`, further up). Automatic
    triggers only move line 1 to line 2 and return None otherwise."""
    now = get_clock().now()
    automatic = trigger != "manual"
    if not _escalable(ticket, automatic):
        return None
    target = to_line or next_line(ticket.support_line)
    if automatic and not await _moves_automatically(uow, ticket, target):
        tickets.record_event(
            uow, ticket, actor, channel, "ticket.escalation_due",
            data={"trigger": trigger, "reason": reason, "line": ticket.support_line},
        )  # fmt: skip
        return None
    target = await _check_target(uow, ticket, target, work_order, vendor)
    e = Escalation(
        ticket_id=ticket.id,
        from_line=ticket.support_line,
        to_line=target,
        trigger=trigger,
        reason=reason,
        requested_by=actor.id,
        state="requested" if target == "l3" else "closed",
        work_order=work_order,
        vendor=vendor,
        vendor_case_ref=vendor_case_ref,
        closed_at=None if target == "l3" else now,
        created_at=now,
        updated_at=now,
    )
    repository.add_escalation(uow, e)
    await _move_up(uow, ticket, actor, channel, e)
    await uow.session.flush()
    return e


def _escalable(ticket: Ticket, automatic: bool) -> bool:
    """Only an open ticket escalates: a closed one is refused (by hand) or left alone."""
    if ticket.status in OPEN_STATUSES:
        return True
    if automatic:
        return False
    raise InvalidTransition(
        f"A ticket that is '{ticket.status}' cannot be escalated.",
        current_state=ticket.status,
        allowed_actions=tickets.allowed_actions(ticket),
    )


async def _moves_automatically(uow: UnitOfWork, ticket: Ticket, target: str | None) -> bool:
    """An automatic trigger moves line 1 to line 2, unless an escalation (to R&D, from
    line 1) is open; past line 1 the line's people decide."""
    return (
        ticket.support_line == "l1"
        and target == "l2"
        and await _open_escalation(uow, ticket.id) is None
    )


async def _check_target(
    uow: UnitOfWork,
    ticket: Ticket,
    target: str | None,
    work_order: dict[str, Any] | None,
    vendor: str | None,
) -> str:
    """The line the ticket may go to, with what it needs there; refusals raise."""
    if target is None:
        raise Conflict("The ticket is with the vendor already: there is no line above.",
                       current_line=ticket.support_line)  # fmt: skip
    if LINES.index(target) <= LINES.index(ticket.support_line):
        raise Unprocessable(
            f"Escalation goes up: the ticket is on {ticket.support_line} already.",
            field="to_line",
        )
    if await _open_escalation(uow, ticket.id) is not None:
        raise Conflict("An escalation of this ticket is still open.")
    if target == "l3":
        missing = [k for k in ("environment", "steps", "symptoms") if not (work_order or {}).get(k)]
        if missing:
            raise Unprocessable(
                "An escalation to R&D needs a fault handling work order (故障处理工作单): "
                f"missing {', '.join(missing)}.",
                field="work_order",
                missing=missing,
            )
    if target == "vendor" and not vendor:
        raise Unprocessable("Name the vendor.", field="vendor")
    return target


async def _move_up(
    uow: UnitOfWork, ticket: Ticket, actor: Any, channel: str | None, e: Escalation
) -> None:
    """The ticket moves to the new line at once (to R&D only once accepted), with its
    event; on line 2 it changes hands."""
    target = e.to_line
    before = {"support_line": ticket.support_line}
    if target != "l3":
        tickets.set_line(ticket, target)
    tickets.touch(ticket)
    kind = "ticket.escalation_requested" if target == "l3" else "ticket.escalated"
    tickets.record_event(uow, ticket, actor, channel, kind, before,
                         {"support_line": ticket.support_line}, _out(e))  # fmt: skip
    if target == "l2":
        # The ticket changes hands by line 2's assignment rules (or waits in its queue).
        # The vendor is no line of ours: the owner stays, to follow the vendor's case.
        await assignment.hand_over(uow, ticket, actor, channel, _why(e))


def _why(e: Escalation) -> dict[str, Any]:
    return {"escalation_id": str(e.id), "reason": e.reason}


async def escalate_by_hand(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    reason: str,
    to_line: str | None,
    work_order: dict[str, Any] | None,
    vendor: str | None,
    vendor_case_ref: str | None,
    channel: str | None,
) -> Escalation:
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    e = await escalate(uow, ticket, principal, "manual", reason, channel, to_line, work_order,
                       vendor, vendor_case_ref)  # fmt: skip
    assert e is not None
    return e


async def on_failed_attempt(
    uow: UnitOfWork, ticket: Ticket, actor: Any, failed: int, channel: str | None
) -> None:
    """Called when an attempt fails: the Nth failed attempt escalates (N per policy)."""
    policy = await policy_for(uow, ticket.service_level)
    n = int(policy["failed_attempts"])
    if n > 0 and failed == n:
        await escalate(uow, ticket, actor, "failed_attempts",
                       f"{failed} failed attempts (三次均无法解决)", channel)  # fmt: skip


# --- the R&D workflow ---------------------------------------------------------------------


async def _escalation_for(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, escalation_id: uuid.UUID
) -> tuple[Ticket, Escalation]:
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    e = await repository.escalation_for_update(uow, escalation_id)
    if e is None or e.ticket_id != ticket.id:
        raise NotFound("Escalation not found.")
    return ticket, e


def _state(e: Escalation, *allowed: str) -> None:
    if e.state not in allowed:
        raise Conflict(f"The escalation is '{e.state}'.", current_state=e.state,
                       expected=list(allowed))  # fmt: skip


class NotRequestingLineManager(Forbidden):
    slug, title = "not-requesting-line-manager", "Approval belongs to the requesting line"


class NotReceivingLineManager(Forbidden):
    slug, title = "not-receiving-line-manager", "The decision belongs to the receiving line"


class SeparationOfDuties(Forbidden):
    slug, title = "separation-of-duties", "One person may not approve and decide"


async def _manages_line(uow: UnitOfWork, principal: Principal, line: str) -> bool:
    """Whether the principal manages an active team of `line`."""
    return await repository.manages_line(uow, principal.id, line)


async def _require_requesting_manager(uow: UnitOfWork, principal: Principal, e: Escalation) -> None:
    """Approval is the requesting line's: a manager of a team of the line the ticket is
    escalated from. An admin may stand in for either side, never for both (below)."""
    if principal.role == Role.admin or await _manages_line(uow, principal, e.from_line):
        return
    raise NotRequestingLineManager(
        f"Only a manager of a line {e.from_line} team (the requesting line) approves an "
        "escalation to R&D.",
        line=e.from_line,
    )


async def _require_receiving_manager(uow: UnitOfWork, principal: Principal, e: Escalation) -> None:
    """Accepting or rejecting is the receiving side's: a manager of an R&D (line 3) team,
    or an admin; and never the person who approved it, whatever his role: one person
    would otherwise both send the ticket to R&D and take it there."""
    if principal.role != Role.admin and not await _manages_line(uow, principal, e.to_line):
        raise NotReceivingLineManager(
            "Only the manager of an R&D (line 3) team decides on this.", line=e.to_line
        )
    if e.approved_by is not None and e.approved_by == principal.id:
        raise SeparationOfDuties(
            "You approved this escalation for the requesting line; R&D's manager decides on it.",
            approved_by=str(e.approved_by),
        )


async def approve(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID,
                  escalation_id: uuid.UUID, channel: str | None) -> Escalation:  # fmt: skip
    ticket, e = await _escalation_for(uow, principal, ticket_id, escalation_id)
    await _require_requesting_manager(uow, principal, e)
    _state(e, "requested")
    now = get_clock().now()
    e.state, e.approved_by, e.approved_at, e.updated_at = "approved", principal.id, now, now
    tickets.touch(ticket)
    tickets.record_event(uow, ticket, principal, channel, "ticket.escalation_approved",
                         data=_out(e))  # fmt: skip
    await uow.session.flush()
    return e


async def accept(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID,
                 escalation_id: uuid.UUID, rd_owner_id: uuid.UUID,
                 channel: str | None) -> Escalation:  # fmt: skip
    ticket, e = await _escalation_for(uow, principal, ticket_id, escalation_id)
    await _require_receiving_manager(uow, principal, e)
    _state(e, "approved")
    if await repository.active_engineer_line(uow, rd_owner_id) != "l3":
        raise Unprocessable("rd_owner_id must name an active R&D (line 3) engineer.",
                            field="rd_owner_id")  # fmt: skip
    now = get_clock().now()
    e.state, e.decided_by, e.decided_at, e.rd_owner_id = "accepted", principal.id, now, rd_owner_id
    e.updated_at = now
    before = {"support_line": ticket.support_line}
    tickets.set_line(ticket, "l3")
    tickets.touch(ticket)
    tickets.record_event(uow, ticket, principal, channel, "ticket.escalated", before,
                         {"support_line": "l3"}, {**_out(e), "rd_owner_id": str(rd_owner_id)})  # fmt: skip
    # The named R&D engineer owns it now (409 at his maximum load); the previous owner
    # follows it as the secondary.
    await assignment.hand_over(uow, ticket, principal, channel, _why(e), to=rd_owner_id)
    await uow.session.flush()
    return e


async def reject(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID,
                 escalation_id: uuid.UUID, advice: str, channel: str | None) -> Escalation:  # fmt: skip
    """R&D's manager sends it back to the requesting line with advice."""
    ticket, e = await _escalation_for(uow, principal, ticket_id, escalation_id)
    await _require_receiving_manager(uow, principal, e)
    _state(e, "approved", "requested")
    now = get_clock().now()
    e.state, e.decided_by, e.decided_at, e.advice = "rejected", principal.id, now, advice
    e.closed_at = e.updated_at = now
    tickets.touch(ticket)
    tickets.record_event(uow, ticket, principal, channel, "ticket.escalation_rejected",
                         data={**_out(e), "advice": advice})  # fmt: skip
    await uow.session.flush()
    return e


async def propose_closure(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID,
                          escalation_id: uuid.UUID, note: str,
                          channel: str | None) -> Escalation:  # fmt: skip
    ticket, e = await _escalation_for(uow, principal, ticket_id, escalation_id)
    if principal.id != e.rd_owner_id:
        await _require_receiving_manager(uow, principal, e)
    _state(e, "accepted")
    e.state, e.updated_at = "closure_proposed", get_clock().now()
    tickets.touch(ticket)
    tickets.record_event(uow, ticket, principal, channel, "ticket.escalation_closure_proposed",
                         data={**_out(e), "note": note})  # fmt: skip
    await uow.session.flush()
    return e


async def answer_closure(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID,
                         escalation_id: uuid.UUID, confirm: bool, note: str,
                         channel: str | None) -> Escalation:  # fmt: skip
    """The requesting side confirms (the ticket returns to its line) or refuses."""
    ticket, e = await _escalation_for(uow, principal, ticket_id, escalation_id)
    if principal.id == e.rd_owner_id:
        raise SeparationOfDuties("R&D proposed the closure; the requesting side answers it.",
                                 rd_owner_id=str(e.rd_owner_id))  # fmt: skip
    if (
        principal.id not in (e.requested_by, ticket.secondary_owner_id)
        and principal.role not in (Role.admin, Role.dispatcher)
        and not await _manages_line(uow, principal, e.from_line)
    ):
        raise NotRequestingLineManager(
            "Only the requester, the previous owner (now the secondary) or a manager of the "
            f"requesting line ({e.from_line}) answers.",
            line=e.from_line,
        )
    _state(e, "closure_proposed")
    now = get_clock().now()
    e.updated_at = now
    before = {"support_line": ticket.support_line}
    if confirm:
        e.state, e.closed_at = "closed", now
        tickets.set_line(ticket, e.from_line)
        kind = "ticket.escalation_closed"
    else:
        e.state = "accepted"
        kind = "ticket.escalation_closure_refused"
    tickets.touch(ticket)
    tickets.record_event(uow, ticket, principal, channel, kind, before,
                         {"support_line": ticket.support_line}, {**_out(e), "note": note})  # fmt: skip
    if confirm:
        # Back on its line: to the secondary (the owner before R&D, who followed it)
        # when he can take it, else by the line's rules, else into the line's queue.
        await assignment.hand_over(uow, ticket, principal, channel, _why(e),
                                   to=ticket.secondary_owner_id, fallback=True)  # fmt: skip
    await uow.session.flush()
    return e


async def list_for(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> list[Escalation]:
    await tickets.get(uow, principal, ticket_id)
    return await repository.escalations_of(uow, ticket_id)


async def sla_escalations(uow: UnitOfWork, clock_ids: list[uuid.UUID], now: datetime) -> None:
    """The `escalation.sla` timers of clocks that breached (or warned, per policy): each
    ticket still on line 1 and open goes to line 2, once, with its timeline event."""
    rows = await repository.clocks_with_tickets(uow, clock_ids)
    seen: set[uuid.UUID] = set()
    for r in rows:
        if r.ticket_id in seen:
            continue
        seen.add(r.ticket_id)
        ticket = await repository.ticket_key_share(uow, r.ticket_id)
        if ticket is None:
            continue
        trigger = "sla_breach" if r.outcome == "breached" else "sla_warning"
        word = "breached" if trigger == "sla_breach" else "at risk"
        await escalate(uow, ticket, SYSTEM, trigger, f"SLA {r.metric} {word}", None)
