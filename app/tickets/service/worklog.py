"""The work log of a ticket: comments (a public reply meets the first response), work
attempts (the Nth failed one escalates, through an event) and on-site visits (an
arrival meets the on-site clock)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.core import events
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import (
    NotFound,
    Unprocessable,
)
from app.core.etag import check_if_match
from app.core.security import Principal, Role
from app.sla import service as sla
from app.tickets import repository
from app.tickets.events import (
    AttemptRecorded,
)
from app.tickets.models import (
    TicketAttempt,
    TicketComment,
    TicketVisit,
)
from app.tickets.schemas import (
    AttemptCreate,
    CommentCreate,
    VisitCreate,
    VisitUpdate,
)
from app.tickets.service.changes import _event, _jsonable, _require_open_for_work


async def add_comment(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: CommentCreate,
    channel: str | None,
) -> TicketComment:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    comment = TicketComment(
        ticket_id=ticket.id,
        author_id=principal.id,
        visibility=data.visibility,
        body=data.body,
        created_at=get_clock().now(),
    )
    uow.session.add(comment)
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.comment_added",
        data={"comment_id": str(comment.id), "visibility": data.visibility, "body": data.body},
        # Internal notes stay internal: nothing outside hears of them.
        announce=data.visibility == "public",
    )
    await uow.session.flush()
    if data.visibility == "public" and principal.role is not Role.integration:
        # A public reply from staff is a first response; an integration relays what
        # customers and monitoring say, which is not.
        await sla.on_first_response(uow, ticket, comment.created_at)
    return comment


async def list_comments(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
    include_internal: bool,
) -> list[TicketComment]:
    await repository.get(uow, principal, ticket_id)
    return await repository.comments_of(uow, ticket_id, after, limit, include_internal)


async def add_attempt(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: AttemptCreate,
    channel: str | None,
) -> TicketAttempt:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    _require_open_for_work(ticket)
    attempt = TicketAttempt(
        ticket_id=ticket.id,
        engineer_id=principal.id,
        kind=data.kind,
        description=data.description,
        outcome=data.outcome,
        minutes_spent=data.minutes_spent,
        created_at=get_clock().now(),
    )
    uow.session.add(attempt)
    await uow.session.flush()
    failed = await repository.failed_attempts(uow, ticket.id)
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.attempt_logged",
        data={
            "attempt_id": str(attempt.id),
            "kind": data.kind,
            "outcome": data.outcome,
            "failed_attempts": failed,
        },
    )
    # The Nth failed attempt escalates (policy; 三次均无法解决): escalation's handler.
    await events.publish(
        uow, AttemptRecorded(ticket, principal, data.outcome, int(failed), channel)
    )
    await uow.session.flush()
    return attempt


async def list_attempts(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[TicketAttempt]:
    await repository.get(uow, principal, ticket_id)
    return await repository.attempts_of(uow, ticket_id)


def _check_visit_times(arrived: datetime, departed: datetime | None, now: datetime) -> None:
    if departed is not None and departed < arrived:
        raise Unprocessable("departed_at is before arrived_at.", field="departed_at")
    if arrived > now + timedelta(minutes=5):
        raise Unprocessable("arrived_at is in the future.", field="arrived_at")


async def add_visit(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: VisitCreate,
    channel: str | None,
) -> TicketVisit:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    _require_open_for_work(ticket)
    now = get_clock().now()
    _check_visit_times(data.arrived_at, data.departed_at, now)
    visit = TicketVisit(
        ticket_id=ticket.id,
        engineer_id=principal.id,
        arrived_at=data.arrived_at,
        departed_at=data.departed_at,
        notes=data.notes,
        created_at=now,
    )
    uow.session.add(visit)
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.visit_logged",
        data={
            "visit_id": str(visit.id),
            "arrived_at": data.arrived_at.isoformat(),
            "departed_at": data.departed_at.isoformat() if data.departed_at else None,
        },
    )
    await uow.session.flush()
    await sla.on_visit_arrival(uow, ticket, data.arrived_at)
    return visit


async def update_visit(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    visit_id: uuid.UUID,
    data: VisitUpdate,
    if_match: str | None,
    channel: str | None,
) -> TicketVisit:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    visit = await repository.visit_for_update(uow, visit_id)
    if visit is None or visit.ticket_id != ticket.id:
        raise NotFound("Visit not found.")
    check_if_match(if_match, visit.version)
    changes = data.model_dump(exclude_unset=True)
    departed = changes.get("departed_at", visit.departed_at)
    _check_visit_times(visit.arrived_at, departed, get_clock().now())
    before = {k: _jsonable(getattr(visit, k)) for k in changes}
    for k, v in changes.items():
        setattr(visit, k, v)
    visit.version += 1
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.visit_updated",
        before,
        {k: _jsonable(getattr(visit, k)) for k in changes},
        {"visit_id": str(visit.id)},
    )
    await uow.session.flush()
    return visit


async def list_visits(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[TicketVisit]:
    await repository.get(uow, principal, ticket_id)
    return await repository.visits_of(uow, ticket_id)
