"""Assignment rules (DOMAIN section 4): automatic assignment to an engineer on duty,
secondary owners and handoffs to them, and "not now" by the primary owner.

Every change locks the ticket (FOR NO KEY UPDATE) first, then the engineers whose load
moves, and commits with its timeline event and outbox row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.assignment import handoffs, load, repository
from app.assignment.handoffs import HANDOFF_TIMER
from app.assignment.models import Handoff
from app.assignment.select import Place, explain, rank, rule
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import (
    AtMaximumLoad,
    Conflict,
    Forbidden,
    InvalidTransition,
    NoEngineerAvailable,
    NotFound,
    Unprocessable,
)
from app.core.etag import check_if_match
from app.core.security import Permission, Principal
from app.people.roster import top_candidates
from app.sla import service as sla
from app.tickets import interface as tickets
from app.tickets.events import Holding, holding
from app.tickets.interface import OPEN_STATUSES, Ticket
from app.timers import service as timers

# Candidates tried in turn when a race took the first one's last free slot.
MAX_TRIES = 10


@dataclass(frozen=True, slots=True)
class TicketFacts:
    place: Place
    skills: list[tuple[str, str]]


async def facts(uow: UnitOfWork, ticket: Ticket) -> TicketFacts:
    """Where the ticket is and what skill it needs: its device's product family, or its
    category (or the category's parent)."""
    row = await repository.place_and_skills(
        uow, ticket.branch_id, ticket.device_id, ticket.category
    )
    skills = [("category", ticket.category)]
    if row.parent_code:
        skills.append(("category", row.parent_code))
    if row.product_family:
        skills.append(("product_family", row.product_family))
    return TicketFacts(Place(ticket.branch_id, row.parent_id, row.region), skills)


async def choose(
    uow: UnitOfWork, ticket: Ticket, now: datetime, trigger: str
) -> tuple[uuid.UUID, dict[str, Any]] | None:
    """Picks and books an engineer for the ticket (its load counted, in this
    transaction); returns (engineer id, the decision for the event) or None when nobody
    on duty qualifies. The ticket must be locked and not yet changed."""
    known = await facts(uow, ticket)
    place = known.place
    # The best few, ranked in SQL by the rules of select.py (which explains the choice).
    top, considered = await top_candidates(
        uow, now, ticket.support_line, known.skills, place.branch_id, place.parent_id,
        place.region, ticket.owner_id, limit=MAX_TRIES + 1,
        secondary_id=ticket.secondary_owner_id,
    )  # fmt: skip
    ranked = rank(top, place)
    before = holding(ticket)
    status = tickets.target_status("assign", ticket.status)
    for i, c in enumerate(ranked[:MAX_TRIES]):
        try:
            async with uow.session.begin_nested():
                await uow.session.connection()
                await load.adjust(
                    uow, before, Holding(c.id, status, ticket.priority), now, assigned=True
                )
        except AtMaximumLoad:
            continue  # another assignment took the last slot since we read the roster
        return c.id, {
            "mode": "auto",
            "trigger": trigger,
            "rule": rule(ranked, known.place, i),
            "considered": considered,
            "line": ticket.support_line,
            "skills": [f"{k}:{v}" for k, v in known.skills],
            "candidates": explain(ranked[i:], known.place),
        }
    return None


async def _set_owner(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    owner_id: uuid.UUID | None,
    data: dict[str, Any],
    channel: str | None,
) -> None:
    """The owner change itself, once the load has moved: the state machine's `assign`,
    its event, and the end of the open handoffs (the ticket changed hands)."""
    previous = ticket.owner_id
    tickets.set_owner(uow, ticket, principal, channel, owner_id, data)
    if previous is not None and previous != owner_id:  # (a handoff needs an owner)
        await end_handoffs(uow, ticket, principal, channel)


def _change_secondary(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    secondary_id: uuid.UUID | None,
    data: dict[str, Any] | None = None,
) -> None:
    before = {"secondary_owner_id": _s(ticket.secondary_owner_id)}
    tickets.set_secondary(ticket, secondary_id)
    tickets.record_event(uow, ticket, principal, channel, "ticket.secondary_assigned", before,
                         {"secondary_owner_id": _s(secondary_id)}, data)  # fmt: skip


AUTO: Any = object()  # hand_over's `to`: whom the line's assignment rules choose


async def _book(
    uow: UnitOfWork, ticket: Ticket, owner: uuid.UUID, now: datetime, strict: bool
) -> bool:
    """Moves the ticket's load to `owner` (an assignment: his maximum applies). Strict:
    refusals propagate (422, 409 at-maximum-load); else they answer False, nothing moved."""
    after = Holding(owner, tickets.target_status("assign", ticket.status), ticket.priority)
    if strict:
        await _check_identity(uow, ticket, owner, "owner_id")
        await load.adjust(uow, holding(ticket), after, now, assigned=True)
        return True
    try:
        await _check_identity(uow, ticket, owner, "owner_id")
        async with uow.session.begin_nested():
            await uow.session.connection()
            await load.adjust(uow, holding(ticket), after, now, assigned=True)
    except (Unprocessable, AtMaximumLoad):
        return False
    return True


async def hand_over(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    data: dict[str, Any],
    to: uuid.UUID | None = AUTO,
    fallback: bool = False,
) -> uuid.UUID | None:
    """The ticket changes hands because it moved to another line (escalation); it is
    locked and its `support_line` already the new line. It goes to `to` when named
    (R&D's acceptance; refused when he cannot take it, unless `fallback`), else to the
    engineer on duty the line's assignment rules choose, else to nobody: it waits in the
    line's queue, unassigned (`ticket.unassigned`, or `ticket.assignment_failed` when it
    had no owner; both go to the outbox). The previous owner becomes the secondary, to
    follow it; open handoffs end. Returns the new owner."""
    now = get_clock().now()
    previous = ticket.owner_id
    decision: dict[str, Any] = {"mode": "escalation", "line": ticket.support_line}
    owner: uuid.UUID | None = None
    named: uuid.UUID | None = None if to is AUTO else to
    if named is not None and (
        named == previous or await _book(uow, ticket, named, now, strict=not fallback)
    ):
        owner = named
        decision["rule"] = "named"
    if owner is None and (to is AUTO or fallback):
        chosen = await choose(uow, ticket, now, "escalation")  # books the load
        if chosen is not None:
            owner, found = chosen
            decision.update({k: v for k, v in found.items() if k != "mode"})
    if owner is None:
        decision["rule"] = "no_engineer_available"
        await load.adjust(uow, holding(ticket),
                          Holding(None, ticket.status, ticket.priority), now,
                          assigned=False)  # fmt: skip
    if owner == previous:
        if owner is None:  # nobody had it, nobody can take it: in the line's queue
            tickets.record_event(uow, ticket, principal, channel, "ticket.assignment_failed",
                                 data={**decision, **data})  # fmt: skip
        return owner
    if previous is not None:
        decision["previous_owner_id"] = str(previous)
    await _set_owner(uow, ticket, principal, owner, {**decision, **data}, channel)
    follower = previous if previous is not None else ticket.secondary_owner_id
    if follower == owner:
        follower = None  # the secondary became the primary
    if follower != ticket.secondary_owner_id:
        _change_secondary(uow, ticket, principal, channel, follower,
                          {"reason": "previous_owner", **data})  # fmt: skip
    await uow.session.flush()
    return owner


async def auto_assign(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    """Assigns the ticket to the engineer on duty the rules choose (POST .../auto-assign)."""
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    now = get_clock().now()
    if "assign" not in tickets.allowed_actions(ticket, now):
        raise InvalidTransition(
            f"Cannot assign a ticket that is '{ticket.status}'.",
            current_state=ticket.status,
            allowed_actions=tickets.allowed_actions(ticket, now),
        )
    chosen = await choose(uow, ticket, now, "request")
    if chosen is None:
        raise NoEngineerAvailable(
            f"No engineer of line {ticket.support_line} with the skill is on duty with room.",
            line=ticket.support_line,
        )
    await _set_owner(uow, ticket, principal, chosen[0], chosen[1], channel)
    await uow.session.flush()
    return ticket


async def assign_new(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> bool:
    """Automatic assignment right after creation (the ticket's SLA policy says so), in
    the creation's transaction. Nobody available is not an error: the ticket waits for a
    dispatcher, and the timeline and the outbox say so."""
    ticket = await repository.ticket(uow, ticket_id, key_share=True)
    assert ticket is not None
    now = get_clock().now()
    chosen = await choose(uow, ticket, now, "creation")
    if chosen is None:
        tickets.record_event(
            uow, ticket, principal, None, "ticket.assignment_failed",
            data={"mode": "auto", "trigger": "creation", "line": ticket.support_line},
        )  # fmt: skip
        await uow.session.flush()
        return False
    await _set_owner(uow, ticket, principal, chosen[0], chosen[1], None)
    await uow.session.flush()
    return True


# --- secondary owner and handoffs ---------------------------------------------------------


async def end_handoffs(uow: UnitOfWork, ticket: Ticket, actor: Any, channel: str | None) -> None:
    """The ticket changed hands: its open handoffs end, each with its event."""
    for h in await handoffs.cancel_open(uow, ticket.id, get_clock().now()):
        tickets.record_event(uow, ticket, actor, channel, "ticket.handoff_cancelled",
                             data={"handoff_id": str(h.id), "to_id": str(h.to_id),
                                   "reason": "owner_changed"})  # fmt: skip


async def _check_identity(uow: UnitOfWork, ticket: Ticket, key_id: uuid.UUID, field: str) -> None:
    found = await tickets.owner_branch(uow, key_id)
    if found is None or not found[0]:
        raise Unprocessable(f"{field} does not name an active API identity.", field=field)
    if found[1] is not None and found[1] != ticket.branch_id:
        raise Unprocessable("That identity works for another branch.", field=field)


async def set_secondary(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    secondary_id: uuid.UUID | None,
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    _require_open(ticket)
    if secondary_id is not None:
        if secondary_id == ticket.owner_id:
            raise Unprocessable("The primary owner cannot also be the secondary.",
                                field="secondary_owner_id")  # fmt: skip
        await _check_identity(uow, ticket, secondary_id, "secondary_owner_id")
    if secondary_id == ticket.secondary_owner_id:
        return ticket
    if secondary_id is None and await _open_handoff(uow, ticket.id) is not None:
        raise Conflict("A handoff to the secondary owner is still open; have it reported first.")
    _change_secondary(uow, ticket, principal, channel, secondary_id)
    tickets.touch(ticket)
    await uow.session.flush()
    return ticket


def _s(v: uuid.UUID | None) -> str | None:
    return str(v) if v else None


def _require_open(ticket: Ticket) -> None:
    if ticket.status in ("resolved", "closed", "cancelled"):
        raise InvalidTransition(
            f"Not possible on a ticket that is '{ticket.status}'.",
            current_state=ticket.status,
            allowed_actions=tickets.allowed_actions(ticket),
        )


async def _open_handoff(uow: UnitOfWork, ticket_id: uuid.UUID) -> Handoff | None:
    return await repository.open_handoff(uow, ticket_id)


def _may_lead(principal: Principal, ticket: Ticket) -> None:
    """The primary owner hands off and defers; so may a dispatcher or manager."""
    if principal.id != ticket.owner_id and not principal.can(Permission.tickets_assign):
        raise Forbidden("Only the primary owner (or a dispatcher) may do this.",
                        permission=Permission.tickets_assign.value)  # fmt: skip


async def start_handoff(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    what: str,
    until: datetime,
    to_id: uuid.UUID | None,
    channel: str | None,
) -> Handoff:
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    _require_open(ticket)
    _may_lead(principal, ticket)
    now = get_clock().now()
    if until <= now:
        raise Unprocessable("until must be in the future.", field="until")
    if ticket.owner_id is None:
        raise Conflict("The ticket has no primary owner to hand off from.")
    target = to_id or ticket.secondary_owner_id
    if target is None:
        raise Unprocessable("Name to_id, or give the ticket a secondary owner first.",
                            field="to_id")  # fmt: skip
    if target == ticket.owner_id:
        raise Unprocessable("The primary owner cannot hand off to himself.", field="to_id")
    if await _open_handoff(uow, ticket.id) is not None:
        raise Conflict("A handoff is already open on this ticket.")
    if target != ticket.secondary_owner_id:
        await _check_identity(uow, ticket, target, "to_id")
        _change_secondary(uow, ticket, principal, channel, target)
    handoff = Handoff(ticket_id=ticket.id, from_id=ticket.owner_id, to_id=target, what=what,
                      until=until, created_at=now, updated_at=now)  # fmt: skip
    repository.add_handoff(uow, handoff)
    tickets.touch(ticket)
    tickets.record_event(
        uow, ticket, principal, channel, "ticket.handoff_started",
        data={"handoff_id": str(handoff.id), "to_id": str(target), "what": what,
              "until": until.isoformat()},
    )  # fmt: skip
    await uow.session.flush()
    await timers.schedule(uow, HANDOFF_TIMER, handoff.id, until)
    return handoff


async def report_handoff(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    handoff_id: uuid.UUID,
    report: str,
    channel: str | None,
) -> Handoff:
    """The secondary reports back: the lead returns to the primary owner."""
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    handoff = await repository.handoff_for_update(uow, handoff_id)
    if handoff is None or handoff.ticket_id != ticket.id:
        raise NotFound("Handoff not found.")
    if principal.id != handoff.to_id and not principal.can(Permission.tickets_assign):
        raise Forbidden("Only the secondary owner it was handed to (or a dispatcher) reports.",
                        permission=Permission.tickets_assign.value)  # fmt: skip
    if handoff.state != "open":
        raise Conflict(f"The handoff is already {handoff.state}.", current_state=handoff.state)
    now = get_clock().now()
    handoff.state, handoff.report, handoff.reported_at = "reported", report, now
    handoff.updated_at = now
    await timers.cancel(uow, HANDOFF_TIMER, [handoff.id])
    tickets.touch(ticket)
    tickets.record_event(
        uow, ticket, principal, channel, "ticket.handoff_reported",
        data={"handoff_id": str(handoff.id), "report": report,
              "late": handoff.overdue_at is not None},
    )  # fmt: skip
    await uow.session.flush()
    return handoff


async def list_handoffs(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[Handoff]:
    await tickets.get(uow, principal, ticket_id)
    return await repository.handoffs_of(uow, ticket_id)


async def handoff_overdue(uow: UnitOfWork, handoff_id: uuid.UUID, now: datetime) -> None:
    """The handoff's timer: still open at its `until`, the primary and dispatchers hear
    of it (timeline + outbox)."""
    # NOWAIT: a report locks the handoff before its timer, this holds the timer; if the
    # report is under way, this firing gives way and is retried (a transient failure).
    handoff = await repository.handoff_for_update(uow, handoff_id, nowait=True)
    if handoff is None or handoff.state != "open":
        return
    ticket = await repository.ticket(uow, handoff.ticket_id)
    assert ticket is not None
    if ticket.status not in OPEN_STATUSES:
        handoff.state, handoff.updated_at = "cancelled", now  # the ticket moved on
        return
    handoff.overdue_at = now
    handoff.updated_at = now
    tickets.record_event(
        uow, ticket, tickets.SYSTEM, None, "ticket.handoff_overdue",
        data={"handoff_id": str(handoff.id), "to_id": str(handoff.to_id),
              "until": handoff.until.isoformat()},
    )  # fmt: skip
    await uow.session.flush()


# --- "not now" -------------------------------------------------------------------------


async def defer(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    until: datetime,
    reason: str,
    channel: str | None,
) -> Ticket:
    """The primary owner cannot take it now, until `until`. If a running SLA clock falls
    due before then, the ticket cannot wait: it goes to the secondary owner (if he has
    room), else to the owner's team manager; otherwise the owner keeps it."""
    ticket = await tickets.get_for_update(uow, principal, ticket_id)
    _require_open(ticket)
    _may_lead(principal, ticket)
    now = get_clock().now()
    if until <= now:
        raise Unprocessable("until must be in the future.", field="until")
    if ticket.owner_id is None:
        raise Conflict("The ticket has no primary owner to defer.")
    pressing = await sla.clocks_due_before(uow, ticket.id, until)
    data: dict[str, Any] = {"until": until.isoformat(), "reason": reason}
    tickets.record_event(uow, ticket, principal, channel, "ticket.deferred", data=data)
    if not pressing:
        tickets.touch(ticket)
        await uow.session.flush()
        return ticket
    previous = ticket.owner_id
    before = holding(ticket)
    decision: dict[str, Any] = {
        "mode": "deferral",
        "rule": "sla_cannot_wait",
        "previous_owner_id": str(previous),
        "until": until.isoformat(),
        "due": {c.metric: c.due_at.isoformat() for c in pressing if c.due_at},
    }
    for role, candidate in (("secondary", ticket.secondary_owner_id),
                            ("manager", await _manager_of(uow, previous))):  # fmt: skip
        if candidate is None or candidate == previous:
            continue
        if not await _takes_over(uow, ticket, candidate, before, now):
            continue
        decision["to"] = role
        if role == "secondary":
            tickets.set_secondary(ticket, None)  # he is the primary now
        await _set_owner(uow, ticket, principal, candidate, decision, channel)
        await uow.session.flush()
        return ticket
    raise Conflict(
        "The SLA cannot wait until then, and neither a secondary owner nor a team manager "
        "can take the ticket; assign it to someone else.",
        due=decision["due"],
    )


async def _takes_over(
    uow: UnitOfWork, ticket: Ticket, candidate: uuid.UUID, before: Holding, now: datetime
) -> bool:
    """Moves the ticket's load to `candidate` as it is (no status change) if he may and
    can take it; False, nothing moved, otherwise."""
    try:
        await _check_identity(uow, ticket, candidate, "owner_id")
    except Unprocessable:
        return False  # revoked, or limited to another branch: cannot take it
    try:
        async with uow.session.begin_nested():
            await uow.session.connection()
            await load.adjust(uow, before, Holding(candidate, ticket.status,
                                                        ticket.priority), now, assigned=True)  # fmt: skip
    except AtMaximumLoad:
        return False
    return True


async def _manager_of(uow: UnitOfWork, engineer_id: uuid.UUID) -> uuid.UUID | None:
    return await repository.manager_of(uow, engineer_id)
