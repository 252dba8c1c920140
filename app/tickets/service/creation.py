"""Registering a ticket: its context checked and read in one statement, its SLA clocks
planned, and the ticket written with its timeline event, outbox row, clocks and timers
in another (repository._CREATE)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
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


@dataclass(slots=True)
class Planned:
    """A creation decided on, before its one statement: who, what, where, and the clocks
    and timers it starts with."""

    ticket_id: uuid.UUID
    now: datetime
    year: int
    priority: str
    source: str
    branch_id: uuid.UUID
    ctx: repository.NewTicketContext
    clocks: list[sla.NewClock]
    timers: list[tuple[str, datetime]]

    @property
    def uncontracted(self) -> bool:
        return self.ctx.contract_id is None

    @property
    def service_level(self) -> str | None:
        return self.ctx.default_level if self.uncontracted else self.ctx.contract_level


def _priority(data: TicketCreate) -> tuple[str, str]:
    derived = lifecycle.derive_priority(data.priority, data.impact, data.urgency)
    if derived is None:
        raise Unprocessable(
            "Give a priority, or both impact and urgency to derive it.",
            errors=[{"loc": ["body", "priority"], "msg": "required", "type": "missing"}],
        )
    return derived


async def _plan(uow: UnitOfWork, principal: Principal, data: TicketCreate) -> Planned:
    """The context read and checked in one statement, the SLA clocks planned and what
    other domains start with the ticket gathered (events.TicketCreating)."""
    now = get_clock().now()
    priority, source = _priority(data)
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
    specs = await sla.calendar_specs_for(
        uow, {uuid.UUID(str(t["calendar_id"])): t["calendar_stamp"] for t in ctx.targets}
    )
    clocks = sla.new_clocks(ctx.targets, specs, data.service_type, now)
    ticket_id = uuid7()
    # What other domains start with the ticket, in the same statement (the incident
    # check of a P1 on a device, app/incidents): timers keyed to the ticket.
    creating = TicketCreating(ticket_id, priority, data.device_id, now)
    await events.publish(uow, creating)
    return Planned(ticket_id, now, year, priority, source, branch_id, ctx, clocks, creating.timers)


def _created_facts(data: TicketCreate, p: Planned) -> dict[str, Any]:
    """The `after` of the `ticket.created` event (and its outbox payload)."""
    return {
        "status": "new",
        "priority": p.priority,
        "priority_source": p.source,
        "channel": data.channel,
        "category": data.category,
        "service_type": data.service_type,
        "customer_id": str(data.customer_id),
        "device_id": str(data.device_id) if data.device_id else None,
        "contract_id": str(p.ctx.contract_id) if p.ctx.contract_id else None,
        "uncontracted": p.uncontracted,
        "service_level": p.service_level,
        "branch_id": str(p.branch_id),
        "subject": data.subject,
    }


def _statement_values(
    principal: Principal, data: TicketCreate, p: Planned, soon: datetime
) -> dict[str, Any]:
    """The creation statement's values (repository._CREATE): the ticket, its event and
    outbox row, its clocks with their first segments and warning timers, other timers."""
    clocks = p.clocks
    return {
        "id": p.ticket_id,
        "prefix": f"T{p.year}-",
        "seq": f"ticket_number_{p.year}",
        "branch_id": p.branch_id,
        "customer_id": data.customer_id,
        "contact_id": data.contact_id,
        "device_id": data.device_id,
        "contract_id": p.ctx.contract_id,
        "service_level": p.service_level,
        "channel": data.channel,
        "category": data.category,
        "service_type": data.service_type,
        "impact": data.impact,
        "urgency": data.urgency,
        "priority": p.priority,
        "priority_source": p.source,
        "subject": data.subject,
        "description": data.description,
        "product_version": data.product_version,
        "affected_system": data.affected_system,
        "fault_started_at": data.fault_started_at,
        "external_ref": data.external_ref,
        "created_by": principal.id,
        "now": p.now,
        "doc": document(data.subject, data.description),
        "event_id": uuid7(),
        "actor_name": principal.name,
        "actor_role": principal.role.value,
        "after": orjson.dumps(_created_facts(data, p)).decode(),
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
        "extra_timer_ids": [uuid7() for _ in p.timers],
        "extra_timer_kinds": [kind for kind, _ in p.timers],
        "extra_timer_dues": [due for _, due in p.timers],
        "soon": soon,
    }


async def create(uow: UnitOfWork, principal: Principal, data: TicketCreate) -> TicketOut:
    p = await _plan(uow, principal, data)
    soon = p.now + timedelta(seconds=get_settings().timer_poll_seconds)
    if p.ctx.auto_assign:
        # One transaction with the assignment below: the context was only read.
        await uow.release_raw()
        await uow.session.connection()
    number = await repository.insert_ticket(uow, _statement_values(principal, data, p, soon))
    # Each clock has its warning timer, due at its warn_at; a worker wakes for those due
    # before the scheduler's next pass.
    dues = [c.warn_at for c in p.clocks] + [due for _, due in p.timers]
    timers.wake_after_commit(uow, [due for due in dues if due <= soon])
    await events.publish(uow, TicketCreated(p.ticket_id, principal, p.ctx.auto_assign))
    if p.ctx.auto_assign:
        # Assigned by a handler (assignment), in this transaction: the session was
        # opened before the insert, so the raw statement joined it. Read it back.
        ticket = await repository.get(uow, principal, p.ticket_id)
        return await full_out(uow, ticket)
    return _created_out(principal, data, p, number)


def _created_out(principal: Principal, data: TicketCreate, p: Planned, number: str) -> TicketOut:
    """The answer, built from values this module made (like the ticket itself): no
    validation to run."""
    now = p.now
    return TicketOut.model_construct(
        id=p.ticket_id,
        number=number,
        branch_id=p.branch_id,
        customer_id=data.customer_id,
        contact_id=data.contact_id,
        device_id=data.device_id,
        contract_id=p.ctx.contract_id,
        uncontracted=p.uncontracted,
        service_level=p.service_level,
        channel=data.channel,
        category=data.category,
        service_type=data.service_type,
        impact=data.impact,
        urgency=data.urgency,
        priority=p.priority,  # type: ignore[arg-type]
        priority_source=p.source,  # type: ignore[arg-type]
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
        sla=[
            ClockBrief.model_construct(
                metric=c.metric,  # type: ignore[arg-type]
                status="running",
                target_seconds=c.target_seconds,
                warn_at=c.warn_at,
                due_at=c.due_at,
                breached_at=None,
            )
            for c in p.clocks
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
