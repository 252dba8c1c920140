"""The ticket rules: creation, changes and lifecycle actions, each committed with its
timeline event and, where others must hear of it, its outbox row."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import text
from sqlmodel import col, select

from app.core import events
from app.core.channels import CHANNELS
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    BadRequest,
    Conflict,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from app.core.etag import check_if_match
from app.core.ids import uuid7
from app.core.pagination import page_json
from app.core.search import document
from app.core.search import query as search_query
from app.core.security import Principal, Role
from app.sla import service as sla
from app.sla.schemas import ClockBrief, ClockOut
from app.tickets import lifecycle, repository
from app.tickets.events import (
    AttemptRecorded,
    TicketChanged,
    TicketCreated,
    TicketCreating,
    holding,
)
from app.tickets.models import (
    PRIORITIES,
    STATUSES,
    Attachment,
    AttachmentBlob,
    Ticket,
    TicketAttempt,
    TicketComment,
    TicketEvent,
    TicketVisit,
)
from app.tickets.schemas import (
    AttemptCreate,
    CommentCreate,
    TicketCreate,
    TicketListQuery,
    TicketOut,
    TicketUpdate,
    VisitCreate,
    VisitUpdate,
)
from app.tickets.timeline import record_event
from app.timers import service as timers

# Ticket numbers restart each year and contract validity dates are calendar dates, both
# meant in China: the business date, not the UTC one (08:00 in Beijing is midnight UTC).
BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def _reopen_window() -> timedelta:
    return timedelta(days=get_settings().reopen_window_days)


def allowed_actions(ticket: Any, now: datetime | None = None) -> list[str]:
    return lifecycle.allowed_actions(
        ticket.status, ticket.closed_at, now or get_clock().now(), _reopen_window()
    )


async def clocks(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> list[ClockOut]:
    await repository.get(uow, principal, ticket_id)
    return await sla.details(uow, ticket_id, get_clock().now())


async def list_page(
    principal: Principal,
    filters: repository.TicketFilters,
    after: uuid.UUID | None,
    limit: int,
) -> bytes:
    """A page of `TicketSummary` items, as JSON (see `page_json`): one statement on the
    raw pool, outside any unit of work."""
    now, window = get_clock().now(), _reopen_window()
    filters.now = now
    rows = await repository.list_tickets(principal, filters, after, limit)
    actions = lifecycle.PageActions(now, window).of
    for row in rows:
        row["allowed_actions"] = actions(row["status"], row["closed_at"])
    return page_json(rows, limit)


def _csv(values: list[str] | None, allowed: tuple[str, ...], name: str) -> list[str] | None:
    if not values:
        return None
    items = [v for raw in values for v in raw.split(",") if v]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise BadRequest(f"Unknown {name}: {', '.join(bad)}.", allowed=list(allowed))
    return items


async def list_for_query(principal: Principal, query: TicketListQuery) -> bytes:
    """`GET /v1/tickets`: the query's filters checked (400 naming the bad value) and
    its page read."""
    paging = query.page()
    tsquery = None
    if query.q is not None:
        tsquery = search_query(query.q)
        if tsquery is None:
            raise BadRequest("q has no searchable word.", param="q")
    if query.channel is not None and query.channel not in CHANNELS:
        raise BadRequest(f"Unknown channel: {query.channel}.", allowed=list(CHANNELS))
    filters = repository.TicketFilters(
        **query.model_dump(exclude={"limit", "cursor", "q", "status", "priority"}),
        status=_csv(query.status, STATUSES, "status"),
        priority=_csv(query.priority, PRIORITIES, "priority"),
        tsquery=tsquery,
    )
    return await list_page(principal, filters, paging.after, paging.limit)


async def get(uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID) -> Ticket:
    """A ticket the principal may see (404 otherwise, another branch's included)."""
    return await repository.get(uow, principal, ticket_id)


async def get_by_number(uow: UnitOfWork, principal: Principal, number: str) -> Ticket:
    return await repository.get_by_number(uow, principal, number)


async def device_history_page(
    uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> bytes:
    """A device's service history (its tickets, newest first); 404 for a device the
    principal cannot see."""
    branch = await repository.device_branch(uow, device_id)
    if branch is None or not principal.sees_branch(branch):
        raise NotFound("Device not found.")
    return await list_page(principal, repository.TicketFilters(device_id=device_id), after, limit)


async def full_out(uow: UnitOfWork, ticket: Any) -> TicketOut:
    """The ticket as its own GET shows it: with its SLA clocks."""
    out = to_out(ticket)
    out.sla = await sla.briefs(uow, ticket.id)
    return out


def to_out(ticket: Any) -> TicketOut:
    out = TicketOut.model_validate(ticket)
    out.allowed_actions = allowed_actions(ticket)  # type: ignore[assignment]
    return out


def _snapshot(ticket: Ticket, fields: list[str]) -> dict[str, Any]:
    return {f: _jsonable(getattr(ticket, f)) for f in fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


_event = record_event


async def create(uow: UnitOfWork, principal: Principal, data: TicketCreate) -> TicketOut:
    now = get_clock().now()
    derived = lifecycle.derive_priority(data.priority, data.impact, data.urgency)
    if derived is None:
        raise Unprocessable(
            "Give a priority, or both impact and urgency to derive it.",
            errors=[{"loc": ["body", "priority"], "msg": "required", "type": "missing"}],
        )
    priority, source = derived
    year = now.astimezone(BUSINESS_ZONE).year
    await repository.ensure_number_sequence(uow, year)
    ctx = await repository.new_ticket_context(
        uow,
        {
            "customer_id": data.customer_id,
            "contact_id": data.contact_id,
            "device_id": data.device_id,
            "category": data.category,
            "today": now.astimezone(BUSINESS_ZONE).date(),
            "branch_id": data.branch_id,
            "priority": priority,
        },
    )
    _check_context(principal, data, ctx)
    branch_id = data.branch_id or ctx.customer_branch_id
    assert branch_id is not None
    uncontracted = ctx.contract_id is None
    service_level = ctx.default_level if uncontracted else ctx.contract_level
    specs = await sla.calendar_specs_for(
        uow, {uuid.UUID(str(t["calendar_id"])): t["calendar_stamp"] for t in ctx.targets}
    )
    clocks = sla.new_clocks(ctx.targets, specs, data.service_type, now)
    ticket_id, event_id = uuid7(), uuid7()
    # Each clock has its warning timer, due at its warn_at.
    timer_dues = [c.warn_at for c in clocks]
    # What other domains start with the ticket, in the same statement (the incident
    # check of a P1 on a device, app/incidents): timers keyed to the ticket.
    creating = TicketCreating(ticket_id, priority, data.device_id, now)
    await events.publish(uow, creating)
    timer_dues += [due for _, due in creating.timers]
    soon = now + timedelta(seconds=get_settings().timer_poll_seconds)
    after = {
        "status": "new",
        "priority": priority,
        "priority_source": source,
        "channel": data.channel,
        "category": data.category,
        "service_type": data.service_type,
        "customer_id": str(data.customer_id),
        "device_id": str(data.device_id) if data.device_id else None,
        "contract_id": str(ctx.contract_id) if ctx.contract_id else None,
        "uncontracted": uncontracted,
        "service_level": service_level,
        "branch_id": str(branch_id),
        "subject": data.subject,
    }
    if ctx.auto_assign:
        # One transaction with the assignment below: the context was only read.
        await uow.release_raw()
        await uow.session.connection()
    number = await repository.insert_ticket(
        uow,
        {
            "id": ticket_id,
            "prefix": f"T{year}-",
            "seq": f"ticket_number_{year}",
            "branch_id": branch_id,
            "customer_id": data.customer_id,
            "contact_id": data.contact_id,
            "device_id": data.device_id,
            "contract_id": ctx.contract_id,
            "service_level": service_level,
            "channel": data.channel,
            "category": data.category,
            "service_type": data.service_type,
            "impact": data.impact,
            "urgency": data.urgency,
            "priority": priority,
            "priority_source": source,
            "subject": data.subject,
            "description": data.description,
            "product_version": data.product_version,
            "affected_system": data.affected_system,
            "fault_started_at": data.fault_started_at,
            "external_ref": data.external_ref,
            "created_by": principal.id,
            "now": now,
            "doc": document(data.subject, data.description),
            "event_id": event_id,
            "actor_name": principal.name,
            "actor_role": principal.role.value,
            "after": orjson.dumps(after).decode(),
            "outbox_id": uuid7(),
            "clock_ids": [c.id for c in clocks],
            "clock_metrics": [c.metric for c in clocks],
            "clock_seconds": [c.target_seconds for c in clocks],
            "clock_calendars": [c.calendar_id for c in clocks],
            "clock_warn": [c.warn_percent for c in clocks],
            "clock_warn_at": [c.warn_at for c in clocks],
            "clock_due_at": [c.due_at for c in clocks],
            "segment_ids": [uuid7() for _ in clocks],
            "clock_timer_ids": [uuid7() for _ in clocks],
            "clock_timer_kind": sla.CLOCK_TIMER,
            "extra_timer_ids": [uuid7() for _ in creating.timers],
            "extra_timer_kinds": [kind for kind, _ in creating.timers],
            "extra_timer_dues": [due for _, due in creating.timers],
            "soon": soon,
        },
    )
    timers.wake_after_commit(uow, [due for due in timer_dues if due <= soon])
    await events.publish(uow, TicketCreated(ticket_id, principal, ctx.auto_assign))
    if ctx.auto_assign:
        # Assigned by a handler (assignment), in this transaction: the session was
        # opened before the insert, so the raw statement joined it. Read it back.
        ticket = await repository.get(uow, principal, ticket_id)
        return await full_out(uow, ticket)
    return TicketOut.model_construct(
        id=ticket_id,
        number=number,
        branch_id=branch_id,
        customer_id=data.customer_id,
        contact_id=data.contact_id,
        device_id=data.device_id,
        contract_id=ctx.contract_id,
        uncontracted=uncontracted,
        service_level=service_level,
        channel=data.channel,
        category=data.category,
        service_type=data.service_type,
        impact=data.impact,
        urgency=data.urgency,
        priority=priority,  # type: ignore[arg-type]
        priority_source=source,  # type: ignore[arg-type]
        status="new",
        subject=data.subject,
        description=data.description,
        product_version=data.product_version,
        affected_system=data.affected_system,
        fault_started_at=data.fault_started_at,
        external_ref=data.external_ref,
        owner_id=None,
        created_by=principal.id,
        resolution_summary=None,
        acknowledged_at=None,
        resolved_at=None,
        closed_at=None,
        close_reason=None,
        cancelled_at=None,
        reopen_count=0,
        version=1,
        created_at=now,
        updated_at=now,
        allowed_actions=lifecycle.allowed_actions("new", None, now, _reopen_window()),  # type: ignore[arg-type]
        # Built from values this function made (like the ticket itself above): no
        # validation to run.
        sla=[
            ClockBrief.model_construct(
                metric=c.metric,  # type: ignore[arg-type]
                status="running",
                target_seconds=c.target_seconds,
                warn_at=c.warn_at,
                due_at=c.due_at,
                breached_at=None,
            )
            for c in clocks
        ],
    )


def _check_context(
    principal: Principal, data: TicketCreate, ctx: repository.NewTicketContext
) -> None:
    """Refuses what the context does not allow, in the order a caller fixes things (the
    customer first, then what must belong to it)."""
    if ctx.customer_branch_id is None or not principal.sees_branch(ctx.customer_branch_id):
        raise NotFound("Customer not found.", field="customer_id")
    if not ctx.customer_active:
        raise Unprocessable("The customer is inactive.", field="customer_id")
    if data.contact_id is not None and ctx.contact_customer_id != data.customer_id:
        raise Unprocessable("The contact does not belong to the customer.", field="contact_id")
    if data.device_id is not None and ctx.device_customer_id != data.customer_id:
        raise Unprocessable("The device does not belong to the customer.", field="device_id")
    if not ctx.category_active:
        raise Unprocessable(f"Unknown or inactive category '{data.category}'.", field="category")
    if data.branch_id is not None and not principal.sees_branch(data.branch_id):
        raise NotFound("Branch not found.", field="branch_id")
    if not ctx.branch_exists:
        raise Unprocessable("branch_id does not name a branch.", field="branch_id")


def touch(ticket: Ticket) -> None:
    """A change of the ticket: its version (the ETag) and `updated_at` move."""
    ticket.version += 1
    ticket.updated_at = get_clock().now()


_UPDATABLE = [
    "subject",
    "description",
    "category",
    "service_type",
    "priority",
    "impact",
    "urgency",
    "contact_id",
    "device_id",
    "fault_started_at",
    "affected_system",
    "product_version",
]


async def update(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    data: TicketUpdate,
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    if ticket.status in ("closed", "cancelled"):
        raise InvalidTransition(
            f"A {ticket.status} ticket cannot be edited; reopen it first.",
            current_state=ticket.status,
            allowed_actions=allowed_actions(ticket),
        )
    changes = data.model_dump(exclude_unset=True)
    for required in ("subject", "category", "service_type", "description"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null.", field=required)
    if "priority" in changes and changes["priority"] is None:
        changes.pop("priority")
    if not changes:
        return ticket
    impact = changes.get("impact", ticket.impact)
    urgency = changes.get("urgency", ticket.urgency)
    if "priority" in changes:
        changes["priority_source"] = "given"
    elif ("impact" in changes or "urgency" in changes) and impact and urgency:
        changes["priority"] = lifecycle.PRIORITY_MATRIX[(impact, urgency)]
        changes["priority_source"] = "derived"
    today = get_clock().now().astimezone(BUSINESS_ZONE).date()
    if "contact_id" in changes or "device_id" in changes or "category" in changes:
        ctx = await repository.create_context(
            uow,
            ticket.customer_id,
            changes.get("contact_id", ticket.contact_id),
            changes.get("device_id", ticket.device_id),
            changes.get("category", ticket.category),
            today,
        )
        if changes.get("contact_id") is not None and ctx.contact_customer_id != ticket.customer_id:
            raise Unprocessable("The contact does not belong to the customer.", field="contact_id")
        if changes.get("device_id") is not None and ctx.device_customer_id != ticket.customer_id:
            raise Unprocessable("The device does not belong to the customer.", field="device_id")
        if "category" in changes and not ctx.category_active:
            raise Unprocessable(
                f"Unknown or inactive category '{changes['category']}'.", field="category"
            )
        if "device_id" in changes:
            changes["contract_id"] = ctx.contract_id
            changes["uncontracted"] = ctx.contract_id is None
            changes["service_level"] = ctx.contract_level or ctx.default_level
    fields = [f for f in changes if getattr(ticket, f) != changes[f]]
    if not fields:
        return ticket
    before = _snapshot(ticket, fields)
    held = holding(ticket)
    for f in fields:
        setattr(ticket, f, changes[f])
    if "subject" in fields or "description" in fields:
        ticket.search_vector = text_vector(ticket.subject, ticket.description)
    after = _snapshot(ticket, fields)
    touch(ticket)
    _event(uow, ticket, principal, channel, "ticket.updated", before, after)
    if "priority" in fields:  # the owner's load is weighted by priority
        await events.publish(
            uow,
            TicketChanged(
                ticket, held, holding(ticket), get_clock().now(), False, principal, channel
            ),
        )
    if "priority" in fields:
        _event(
            uow,
            ticket,
            principal,
            channel,
            "ticket.priority_changed",
            {"priority": before["priority"]},
            {"priority": ticket.priority},
        )
    if {"priority", "service_level", "service_type"} & set(fields):
        await uow.session.flush()
        targets = await sla.recompute(uow, ticket, get_clock().now())
        if targets:
            _event(uow, ticket, principal, channel, "sla.recomputed", data={"targets": targets})
    await uow.session.flush()
    return ticket


def text_vector(subject: str, description: str) -> Any:
    from sqlalchemy import func

    return func.to_tsvector("simple", document(subject, description))


async def _owner_check(uow: UnitOfWork, ticket: Ticket, owner_id: uuid.UUID) -> None:
    owner = await repository.owner_branch(uow, owner_id)
    if owner is None or not owner[0]:
        raise Unprocessable("owner_id does not name an active API identity.", field="owner_id")
    if owner[1] is not None and owner[1] != ticket.branch_id:
        raise Unprocessable("The owner works for another branch.", field="owner_id")


def set_owner(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    owner_id: uuid.UUID | None,
    data: dict[str, Any],
) -> None:
    """Gives the ticket a new primary owner, or none (it waits in its line's queue), by
    the state machine's `assign`: a new ticket becomes assigned when it gains one, and
    no status changes otherwise. Records `ticket.assigned` (`ticket.unassigned` for
    none). The caller has moved the load (assignment/load.py) and ends open handoffs
    (`end_handoffs`)."""
    before = {"owner_id": _jsonable(ticket.owner_id), "status": ticket.status}
    ticket.owner_id = owner_id
    if owner_id is not None:
        ticket.status = lifecycle.target_status("assign", ticket.status)
    touch(ticket)
    after = {"owner_id": _jsonable(owner_id), "status": ticket.status}
    type_ = "ticket.assigned" if owner_id is not None else "ticket.unassigned"
    _event(uow, ticket, principal, channel, type_, before, after, data)


async def act(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    action: str,
    body: dict[str, Any],
    if_match: str | None,
    channel: str | None,
) -> Ticket:
    """Runs one lifecycle action; an action the state does not allow answers 409 naming
    the current state and what is allowed."""
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    check_if_match(if_match, ticket.version)
    now = get_clock().now()
    allowed = allowed_actions(ticket, now)
    if action not in allowed:
        detail = f"Cannot {action} a ticket that is '{ticket.status}'."
        if action == "reopen" and ticket.status == "closed":
            detail = (
                f"The ticket was closed more than {get_settings().reopen_window_days} days "
                "ago and can no longer be reopened."
            )
        raise InvalidTransition(detail, current_state=ticket.status, allowed_actions=allowed)
    fields = ["status", "owner_id"]
    before = _snapshot(ticket, fields)
    held = holding(ticket)
    data: dict[str, Any] = {}
    note = body.get("note")
    if note:
        data["note"] = note
    new_status = lifecycle.target_status(action, ticket.status, body.get("on"))

    if action in ("acknowledge", "start"):
        owner = body.get("owner_id") or ticket.owner_id or principal.id
        if owner != ticket.owner_id:
            await _owner_check(uow, ticket, owner)
            ticket.owner_id = owner
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at = now
    elif action == "assign":
        owner = body["owner_id"]
        await _owner_check(uow, ticket, owner)
        if owner == ticket.owner_id and new_status == ticket.status:
            raise Conflict("The ticket already has this owner.", field="owner_id")
        if owner == ticket.secondary_owner_id:
            raise Conflict("The secondary owner cannot also be the primary.", field="owner_id")
        if body.get("reason"):
            data["reason"] = body["reason"]
        data["mode"] = "manual"
        ticket.owner_id = owner
    elif action == "wait":
        data["waiting_on"] = body["on"]
    elif action == "resolve":
        ticket.resolution_summary = body["resolution_summary"]
        ticket.resolved_at = now
        fields.append("resolution_summary")
    elif action == "confirm":
        ticket.closed_at = now
        ticket.close_reason = "confirmed_by_reporter"
        if body.get("contact_id"):
            data["contact_id"] = str(body["contact_id"])
    elif action == "reopen":
        data["reason"] = body["reason"]
        data["reopened_from"] = ticket.status
        ticket.reopen_count += 1
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.close_reason = None
    elif action == "cancel":
        data["reason"] = body["reason"]
        ticket.cancelled_at = now

    ticket.status = new_status
    after = _snapshot(ticket, fields)
    touch(ticket)
    type_ = {
        "acknowledge": "ticket.acknowledged",
        "assign": "ticket.assigned",
        "start": "ticket.started",
        "wait": "ticket.waiting",
        "resume": "ticket.resumed",
        "resolve": "ticket.resolved",
        "confirm": "ticket.closed",
        "reopen": "ticket.reopened",
        "cancel": "ticket.cancelled",
    }[action]
    _event(uow, ticket, principal, channel, type_, before, after, data or None)
    # The load moves with the ticket (an engineer gaining it by an assignment, or by
    # taking it, must have room; a ticket coming back to its owner on reopen is his) and
    # open handoffs end when it changes hands: assignment's handlers.
    moved = ticket.owner_id != held.owner_id
    await events.publish(
        uow, TicketChanged(ticket, held, holding(ticket), now, moved, principal, channel)
    )
    await uow.session.flush()
    await sla.on_action(uow, ticket, action, body.get("on"), now)
    if action in ("acknowledge", "start") and before["owner_id"] != after["owner_id"]:
        _event(
            uow,
            ticket,
            principal,
            channel,
            "ticket.assigned",
            {"owner_id": before["owner_id"]},
            {"owner_id": after["owner_id"]},
        )
    await uow.session.flush()
    return ticket


def _require_open_for_work(ticket: Ticket) -> None:
    if ticket.status in ("closed", "cancelled"):
        raise InvalidTransition(
            f"Work cannot be logged on a {ticket.status} ticket.",
            current_state=ticket.status,
            allowed_actions=allowed_actions(ticket),
        )


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
    stmt = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    if not include_internal:
        stmt = stmt.where(TicketComment.visibility == "public")
    if after is not None:
        stmt = stmt.where(TicketComment.id > after)
    stmt = stmt.order_by(col(TicketComment.id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


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
    failed = (
        await uow.session.execute(
            text(
                "SELECT count(*) FROM ticket_attempts WHERE ticket_id = :t AND outcome = 'failed'"
            ),
            {"t": ticket.id},
        )
    ).scalar_one()
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
    stmt = (
        select(TicketAttempt)
        .where(TicketAttempt.ticket_id == ticket_id)
        .order_by(col(TicketAttempt.id))
    )  # type: ignore[arg-type]
    return list((await uow.session.execute(stmt)).scalars())


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
    visit = await uow.session.get(TicketVisit, visit_id, with_for_update=True)
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
    stmt = (
        select(TicketVisit).where(TicketVisit.ticket_id == ticket_id).order_by(col(TicketVisit.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


def _safe_filename(name: str | None) -> str:
    base = (name or "attachment").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*;')
    return (cleaned.strip(" .") or "attachment")[:255]


async def add_attachment(
    uow: UnitOfWork,
    principal: Principal,
    ticket_id: uuid.UUID,
    filename: str | None,
    content_type: str | None,
    content: bytes,
    channel: str | None,
) -> Attachment:
    settings = get_settings()
    ticket = await repository.get_for_update(uow, principal, ticket_id)
    if len(content) > settings.attachment_max_bytes:
        raise PayloadTooLarge(
            f"Attachments are limited to {settings.attachment_max_bytes} bytes.",
            limit=settings.attachment_max_bytes,
        )
    if len(content) == 0:
        raise Unprocessable("The file is empty.", field="file")
    media = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if media not in settings.attachment_allowed_types:
        raise UnsupportedMediaType(
            f"Files of type '{media}' are not accepted.", allowed=settings.attachment_allowed_types
        )
    attachment = Attachment(
        ticket_id=ticket.id,
        filename=_safe_filename(filename),
        content_type=media,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=principal.id,
        created_at=get_clock().now(),
    )
    uow.session.add(attachment)
    await uow.session.flush()
    uow.session.add(AttachmentBlob(attachment_id=attachment.id, data=content))
    _event(
        uow,
        ticket,
        principal,
        channel,
        "ticket.attachment_added",
        data={
            "attachment_id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "content_type": media,
        },
        announce=False,
    )
    await uow.session.flush()
    return attachment


async def list_attachments(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID
) -> list[Attachment]:
    await repository.get(uow, principal, ticket_id)
    stmt = select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(col(Attachment.id))
    return list((await uow.session.execute(stmt)).scalars())


async def get_attachment_content(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, attachment_id: uuid.UUID
) -> tuple[Attachment, bytes]:
    await repository.get(uow, principal, ticket_id)
    attachment = await uow.session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        raise NotFound("Attachment not found.")
    blob = await uow.session.get(AttachmentBlob, attachment_id)
    assert blob is not None
    return attachment, blob.data


async def list_events(
    uow: UnitOfWork, principal: Principal, ticket_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[TicketEvent]:
    await repository.get(uow, principal, ticket_id)
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if after is not None:
        stmt = stmt.where(TicketEvent.id > after)
    stmt = stmt.order_by(col(TicketEvent.id)).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())
