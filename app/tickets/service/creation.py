"""Registering a ticket: its context checked and read in one statement, its SLA clocks
planned, and the ticket written with its timeline event, outbox row, clocks and timers
in another (repository._CREATE)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import orjson

from app.core import events
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import (
    NotFound,
    Unprocessable,
)
from app.core.ids import uuid7
from app.core.search import document
from app.core.security import Principal
from app.sla import service as sla
from app.sla.schemas import ClockBrief
from app.tickets import lifecycle, repository
from app.tickets.events import (
    TicketCreated,
    TicketCreating,
)
from app.tickets.schemas import (
    TicketCreate,
    TicketOut,
)
from app.tickets.service.views import _reopen_window, full_out
from app.timers import service as timers

# Ticket numbers restart each year and contract validity dates are calendar dates, both
# meant in China: the business date, not the UTC one (08:00 in Beijing is midnight UTC).
BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


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
