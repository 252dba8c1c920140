"""Contact plans (定期主动式电话支持): periodic proactive calls to a key customer. Every
`every_weeks` weeks from its first date, a callback of its own for the plan's agent.

One timer per plan (`callbacks.plan_due`), due a day before the next call, so that the
call is in the agent's queue the day before it is due; each firing makes that call and
re-arms the timer for the next one (a new version), so a plan costs one timer row
whatever its length, and no scan. The plan keeps its weekly grid: a call that falls on
a day off moves to the next business day (in the customer's policy calendar), the next
call does not. Occurrences missed entirely (the workers stopped for longer than a
period) are skipped: one late call is made, not a pile of them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.callbacks.models import ContactPlan
from app.callbacks.repository import plans as repo
from app.callbacks.schemas.plans import ContactPlanCreate, ContactPlanOut, ContactPlanUpdate
from app.callbacks.service import business, policies
from app.callbacks.service import callbacks as calls
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.core.security import Principal
from app.customers import service as customers
from app.outbox.service import publish
from app.timers import service as timers

PLAN_TIMER = "callbacks.plan_due"
LEAD = timedelta(days=1)
MAX_AHEAD = timedelta(days=365)


def _out(plan: ContactPlan) -> ContactPlanOut:
    return ContactPlanOut.model_validate(plan.model_dump())


def _announce(uow: UnitOfWork, plan: ContactPlan, type_: str, **extra: Any) -> None:
    data = _out(plan).model_dump(mode="json") | extra
    publish(uow, type_, "contact_plan", plan.id, data)


async def _arm(uow: UnitOfWork, plan: ContactPlan) -> None:
    if plan.active:
        await timers.schedule(uow, PLAN_TIMER, plan.id, plan.next_due_at - LEAD)
    else:
        await timers.cancel(uow, PLAN_TIMER, [plan.id])


def _check_due(due: datetime, now: datetime, field: str) -> datetime:
    due = due.astimezone(UTC)
    if due < now:
        raise Unprocessable(f"{field} must not be in the past.", field=field)
    if due > now + MAX_AHEAD:
        raise Unprocessable(f"{field} must be within 365 days.", field=field)
    return due


async def _check_contact(uow: UnitOfWork, principal: Principal, contact_id: uuid.UUID,
                         customer_id: uuid.UUID) -> None:  # fmt: skip
    try:
        contact = await customers.get_contact(uow, principal, contact_id)
    except NotFound:
        contact = None
    if contact is None or contact.customer_id != customer_id:
        raise Unprocessable("contact_id does not name a contact of the customer.",
                            field="contact_id")  # fmt: skip


async def create(uow: UnitOfWork, principal: Principal, body: ContactPlanCreate) -> ContactPlanOut:
    customer = await customers.visible_customer(uow, principal, body.customer_id)
    if customer is None:
        raise Unprocessable("customer_id does not name a customer.", field="customer_id")
    if body.contact_id is not None:
        await _check_contact(uow, principal, body.contact_id, customer.id)
    if body.agent_id is not None:
        await calls.check_agent(uow, body.agent_id, customer.branch_id)
    now = get_clock().now()
    first = _check_due(body.first_due_at, now, "first_due_at")
    plan = ContactPlan(branch_id=customer.branch_id, customer_id=customer.id,
                       contact_id=body.contact_id, agent_id=body.agent_id,
                       every_weeks=body.every_weeks, next_due_at=first, note=body.note,
                       created_at=now, updated_at=now)  # fmt: skip
    repo.add(uow, plan)
    await repo.flush(uow)
    await _arm(uow, plan)
    _announce(uow, plan, "contact_plan.created")
    return _out(plan)


async def _get(uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID,
               lock: bool = False) -> ContactPlan:  # fmt: skip
    plan = await repo.get(uow, principal, plan_id, lock=lock)
    if plan is None:
        raise NotFound("Contact plan not found.")
    return plan


async def view(uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID) -> ContactPlanOut:
    return _out(await _get(uow, principal, plan_id))


async def list_plans(uow: UnitOfWork, principal: Principal, page: PageParams, *,
                     customer_id: uuid.UUID | None, agent_id: uuid.UUID | None,
                     active: bool | None) -> Page[ContactPlanOut]:  # fmt: skip
    rows = await repo.list_plans(uow, principal, limit=page.limit, after=page.after,
                                 customer_id=customer_id, agent_id=agent_id, active=active)  # fmt: skip
    result = make_page(rows, page.limit)
    return Page[ContactPlanOut](items=[_out(p) for p in result.items],
                                next_cursor=result.next_cursor)  # fmt: skip


def _roll_forward(plan: ContactPlan, now: datetime) -> None:
    """The first occurrence of the plan's grid not before now."""
    step = timedelta(weeks=plan.every_weeks)
    if plan.next_due_at < now:
        periods = -((plan.next_due_at - now) // step)
        plan.next_due_at += periods * step


async def update(uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID,
                 body: ContactPlanUpdate, if_match: str | None) -> ContactPlanOut:  # fmt: skip
    plan = await _get(uow, principal, plan_id, lock=True)
    check_if_match(if_match, plan.version)
    given, now = body.model_fields_set, get_clock().now()
    for name in ("every_weeks", "active", "next_due_at"):
        if name in given and getattr(body, name) is None:
            raise Unprocessable(f"{name} cannot be null.", field=name)
    if "contact_id" in given and body.contact_id is not None:
        await _check_contact(uow, principal, body.contact_id, plan.customer_id)
    if "agent_id" in given and body.agent_id is not None and body.agent_id != plan.agent_id:
        await calls.check_agent(uow, body.agent_id, plan.branch_id)
    changes = {n: getattr(body, n) for n in given if getattr(body, n) != getattr(plan, n)}
    if "next_due_at" in changes:
        changes["next_due_at"] = _check_due(changes["next_due_at"], now, "next_due_at")
    if not changes:
        return _out(plan)
    for name, value in changes.items():
        setattr(plan, name, value)
    # Reactivated after a pause: the next date of its grid. Only then: an active plan
    # whose date passed is owed that call (its timer fires late, the workers were
    # down), and an edit of its note or agent must not skip it.
    if changes.get("active") is True and "next_due_at" not in changes:
        _roll_forward(plan, now)
    plan.version += 1
    plan.updated_at = now
    await repo.flush(uow)
    await _arm(uow, plan)
    _announce(uow, plan, "contact_plan.updated", changed=sorted(changes))
    return _out(plan)


# --- the timer ------------------------------------------------------------------------


async def due(uow: UnitOfWork, plan_id: uuid.UUID, now: datetime) -> datetime | None:
    """Makes the plan's next call and returns when to fire for the one after (None: the
    plan ended). Read again under the plan's lock (NOWAIT: a request editing the plan
    wins, and this firing is retried)."""
    plan = await repo.get(uow, None, plan_id, lock=True, nowait=True)
    if plan is None or not plan.active:
        return None
    if now < plan.next_due_at - LEAD:
        return plan.next_due_at - LEAD  # moved later meanwhile
    policy, planned = await policies.effective(uow, plan.customer_id), plan.next_due_at
    call_at = await policies.in_calendar(
        uow, policy, lambda cal: business.on_business_day(cal, planned)
    )
    await calls.schedule_plan_call(uow, plan, call_at, now)
    step = timedelta(weeks=plan.every_weeks)
    plan.next_due_at += step
    while plan.next_due_at - LEAD <= now:  # missed whole periods: skip them
        plan.next_due_at += step
    plan.version += 1
    plan.updated_at = now
    await repo.flush(uow)
    return plan.next_due_at - LEAD
