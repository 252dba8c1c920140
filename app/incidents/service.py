"""Major incident rules: declare (by hand, or automatically when more than K P1 tickets
on one product family open within M minutes), link affected tickets, status updates due
every X minutes (a timer re-armed by each update) until resolved, and resolving the
linked tickets with one summary.

Notices go out through the outbox (aggregate "incident"): `incident.declared` to the
emergency group and management, `incident.update_due`, `incident.updated`,
`incident.resolved`; the e-mail issue turns them into mail.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unprocessable,
)
from app.core.security import Principal
from app.incidents import repository as repo
from app.incidents.models import IncidentUpdate, MajorIncident
from app.outbox.service import publish
from app.tickets import interface as tickets
from app.tickets.interface import OPEN_STATUSES, Ticket
from app.timers import service as timers

UPDATE_TIMER = "incident.update_due"
# Set with a new P1 ticket on a device, in its creation statement (subscribers.py).
CHECK_TIMER = "incident.check"
# Who hears of a declaration at once (the mailer resolves these to addresses).
DECLARED_TO = ["group:emergency", "role:manager", "role:admin"]
SYSTEM = tickets.SYSTEM


def _payload(i: MajorIncident, **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": str(i.id),
        "title": i.title,
        "product_family": i.product_family,
        "state": i.state,
        "trigger": i.trigger,
        "next_update_due_at": i.next_update_due_at.isoformat() if i.next_update_due_at else None,
        **extra,
    }


def _announce(uow: UnitOfWork, i: MajorIncident, event_type: str, **extra: Any) -> None:
    publish(uow, event_type, "incident", i.id, _payload(i, **extra))


async def declare(
    uow: UnitOfWork,
    actor: Any,
    title: str,
    description: str,
    product_family: str | None,
    interval_minutes: int,
    tickets_to_link: list[Ticket],
    trigger: str = "manual",
) -> MajorIncident:
    now = get_clock().now()
    if product_family is not None:
        if not await repo.product_family_exists(uow, product_family):
            raise Unprocessable(f"Unknown product family '{product_family}'.",
                                field="product_family")  # fmt: skip
        await repo.lock_family(uow, product_family)
        existing = await repo.open_for(uow, product_family)
        if existing is not None:
            raise Conflict("A major incident for this product family is open already.",
                           incident_id=str(existing.id))  # fmt: skip
    incident = MajorIncident(
        title=title, description=description, product_family=product_family, trigger=trigger,
        declared_by=actor.id, update_interval_minutes=interval_minutes,
        next_update_due_at=now + timedelta(minutes=interval_minutes), created_at=now,
        updated_at=now,
    )  # fmt: skip
    repo.add(uow, incident)
    try:
        await repo.flush(uow)
    except IntegrityError as exc:  # (the advisory lock makes this unlikely)
        raise Conflict("A major incident for this product family is open already.") from exc
    await _link(uow, incident, tickets_to_link, actor, now)
    assert incident.next_update_due_at is not None
    await timers.schedule(uow, UPDATE_TIMER, incident.id, incident.next_update_due_at)
    _announce(uow, incident, "incident.declared", recipients=DECLARED_TO,
              ticket_ids=[str(t.id) for t in tickets_to_link])  # fmt: skip
    await repo.flush(uow)
    return incident


async def _link(
    uow: UnitOfWork, incident: MajorIncident, to_link: list[Ticket], actor: Any, now: datetime
) -> list[Ticket]:
    linked = []
    for t in to_link:
        if await repo.link_ticket(uow, incident.id, t.id, now):
            linked.append(t)
            tickets.record_event(uow, t, actor, None, "ticket.incident_linked",
                                 data={"incident_id": str(incident.id), "title": incident.title})  # fmt: skip
    return linked


async def _tickets(uow: UnitOfWork, principal: Principal, ids: list[uuid.UUID]) -> list[Ticket]:
    out = []
    for tid in sorted(set(ids)):  # in id order, as every multi-ticket change locks them
        try:
            out.append(await tickets.get_for_update(uow, principal, tid))
        except NotFound as exc:
            raise Unprocessable(f"Ticket {tid} not found.", field="ticket_ids") from exc
    return out


async def declare_by_hand(
    uow: UnitOfWork, principal: Principal, title: str, description: str,
    product_family: str | None, interval_minutes: int, ticket_ids: list[uuid.UUID],
) -> MajorIncident:  # fmt: skip
    require_global(principal)
    linked = await _tickets(uow, principal, ticket_ids)
    return await declare(uow, principal, title, description, product_family, interval_minutes,
                         linked)  # fmt: skip


async def get(uow: UnitOfWork, incident_id: uuid.UUID, lock: bool = False) -> MajorIncident:
    found = await repo.get(uow, incident_id, lock=lock)
    if found is None:
        raise NotFound("Major incident not found.")
    return found


def _require_open(i: MajorIncident) -> None:
    if i.state != "open":
        raise InvalidTransition("The incident is resolved.", current_state=i.state,
                                allowed_actions=[])  # fmt: skip


async def link(uow: UnitOfWork, principal: Principal, incident_id: uuid.UUID,
               ticket_ids: list[uuid.UUID]) -> MajorIncident:  # fmt: skip
    require_global(principal)
    # Tickets first, then the incident: the order the automatic rule takes them too.
    to_link = await _tickets(uow, principal, ticket_ids)
    incident = await get(uow, incident_id, lock=True)
    _require_open(incident)
    await _link(uow, incident, to_link, principal, get_clock().now())
    incident.updated_at = get_clock().now()
    await repo.flush(uow)
    return incident


async def post_update(uow: UnitOfWork, principal: Principal, incident_id: uuid.UUID,
                      body: str) -> IncidentUpdate:  # fmt: skip
    require_global(principal)
    incident = await get(uow, incident_id, lock=True)
    _require_open(incident)
    now = get_clock().now()
    update = IncidentUpdate(incident_id=incident.id, body=body, author_id=principal.id,
                            created_at=now)  # fmt: skip
    repo.add(uow, update)
    incident.last_update_at = now
    incident.next_update_due_at = now + timedelta(minutes=incident.update_interval_minutes)
    incident.updated_at = now
    incident.version += 1
    await timers.schedule(uow, UPDATE_TIMER, incident.id, incident.next_update_due_at)
    _announce(uow, incident, "incident.updated", body=body)
    await repo.flush(uow)
    return update


async def resolve(
    uow: UnitOfWork, principal: Principal, incident_id: uuid.UUID, summary: str,
    resolve_tickets: bool,
) -> tuple[MajorIncident, list[uuid.UUID], list[uuid.UUID]]:  # fmt: skip
    """Resolves the incident; with `resolve_tickets`, also every linked ticket still open
    (started first where it was not), with the same summary. Returns the incident, the
    tickets resolved and those left (already resolved, or outside the caller's branch)."""
    require_global(principal)
    ids = await repo.linked_in_id_order(uow, incident_id)
    resolved: list[uuid.UUID] = []
    left: list[uuid.UUID] = []
    if resolve_tickets:
        resolved, left = await _resolve_linked(uow, principal, ids, summary)
    incident = await get(uow, incident_id, lock=True)
    _require_open(incident)
    _close(incident, summary, get_clock().now())
    await timers.cancel(uow, UPDATE_TIMER, [incident.id])
    _announce(uow, incident, "incident.resolved", summary=summary,
              resolved_ticket_ids=[str(t) for t in resolved])  # fmt: skip
    await repo.flush(uow)
    return incident, resolved, left


async def _resolve_linked(
    uow: UnitOfWork, principal: Principal, ids: list[uuid.UUID], summary: str
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Resolves each linked ticket that is still open: (those resolved, those left)."""
    resolved: list[uuid.UUID] = []
    left: list[uuid.UUID] = []
    # Every linked ticket locked first, in id order: then the engineers' rows the
    # resolutions update cannot be waited for by someone holding one of them.
    await repo.lock_tickets(uow, ids)
    for tid in ids:
        if await _resolve_one(uow, principal, tid, summary):
            resolved.append(tid)
        else:
            left.append(tid)
    return resolved, left


async def _resolve_one(uow: UnitOfWork, principal: Principal, tid: uuid.UUID, summary: str) -> bool:
    """Resolves one linked ticket (started first where it was not); False when it is left:
    outside the caller's branch, no longer open, or refused."""
    try:
        ticket = await tickets.get_for_update(uow, principal, tid)
    except NotFound:
        return False
    if ticket.status not in OPEN_STATUSES:
        return False
    try:
        async with repo.savepoint(uow):
            if ticket.status in ("new", "assigned"):
                # Started by its owner, or by the resolver when it has none.
                await tickets.act(uow, principal, tid, "start",
                                  {"owner_id": ticket.owner_id}, None, None)  # fmt: skip
            await tickets.act(uow, principal, tid, "resolve",
                              {"resolution_summary": summary}, None, None)  # fmt: skip
    except AppError:
        return False  # e.g. the resolver at his maximum load: left open
    return True


def _close(incident: MajorIncident, summary: str, now: datetime) -> None:
    incident.state, incident.resolution_summary, incident.resolved_at = "resolved", summary, now
    incident.next_update_due_at = None
    incident.updated_at = now
    incident.version += 1


async def linked_ids(
    uow: UnitOfWork, incident_id: uuid.UUID, branch_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """The linked tickets, those of `branch_id` only for a key limited to one branch."""
    return await repo.linked_ids(uow, incident_id, branch_id)


def require_global(principal: Principal) -> None:
    """Major incidents span branches: declaring, linking and resolving them takes a key
    that is not limited to one branch."""
    if principal.branch_id is not None:
        raise Forbidden("A key limited to one branch cannot manage major incidents.",
                        permission="incidents:manage")  # fmt: skip


async def updates(uow: UnitOfWork, incident_id: uuid.UUID) -> list[IncidentUpdate]:
    await get(uow, incident_id)
    return await repo.updates(uow, incident_id)


async def list_incidents(uow: UnitOfWork, state: str | None, after: uuid.UUID | None,
                         limit: int) -> list[MajorIncident]:  # fmt: skip
    return await repo.list_incidents(uow, state, after, limit)


# --- worker side ----------------------------------------------------------------------------


async def update_due(uow: UnitOfWork, incident_id: uuid.UUID, now: datetime) -> datetime | None:
    """The update timer fired: still open, so the update is due (again every interval)."""
    # NOWAIT: an update or resolution locks the incident before its timer, this holds the
    # timer; if one is under way, this firing gives way and is retried.
    incident = await repo.get_nowait(uow, incident_id)
    if incident is None or incident.state != "open":
        return None
    _announce(uow, incident, "incident.update_due", recipients=DECLARED_TO,
              last_update_at=incident.last_update_at.isoformat() if incident.last_update_at
              else None)  # fmt: skip
    return now + timedelta(minutes=incident.update_interval_minutes)


async def check_p1(uow: UnitOfWork, ticket_id: uuid.UUID, now: datetime) -> None:
    """A P1 ticket on a device opened: link it to its product family's open incident, or
    declare one when more than K P1 tickets of that family opened within M minutes."""
    settings = get_settings()
    family = await repo.open_p1_family(uow, ticket_id)
    if family is None or settings.incident_auto_threshold <= 0:
        return
    await repo.lock_family(uow, family)
    existing = await repo.open_for(uow, family)
    if existing is not None:
        ticket = await repo.ticket(uow, ticket_id)
        assert ticket is not None
        await _link(uow, existing, [ticket], SYSTEM, now)
        return
    since = now - timedelta(minutes=settings.incident_auto_window_minutes)
    recent = await repo.recent_open_p1(uow, family, since)
    if len(recent) <= settings.incident_auto_threshold:
        return
    to_link = await repo.tickets(uow, recent)
    await declare(
        uow, SYSTEM,
        f"{family}: {len(recent)} P1 tickets in {settings.incident_auto_window_minutes} min",
        "Declared automatically: more than "
        f"{settings.incident_auto_threshold} P1 tickets on one product family.",
        family, 30, to_link, trigger="auto",
    )  # fmt: skip
