"""Callbacks (客户回访): scheduling one (after a resolution, or a plan's call), the queue,
reassigning and rescheduling, each call's outcome, and the overdue notice.

Outcomes (DOMAIN 7): *satisfied* confirms the resolution and closes the ticket (the
reporter's confirmation, given on the phone); *not solved* reopens it with the note as
the reason; *no answer* tries again `retry_minutes` later (in working hours) until the
policy's attempts are used up, then the callback ends *unreachable* and the ticket is
closed as `closed_unreachable` or left resolved (to close on silence), by policy. A
plan's call has no ticket: it ends *done*, or unreachable.

Locks: the ticket, then its callback, then their timers, as a ticket change takes them
(a reopen by mail cancels the open callback under the ticket's lock); a timer's handler
takes its callback with NOWAIT and gives way to a request.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.callbacks.defaults import DEFAULT_POLICY
from app.callbacks.models import Callback, CallbackAttempt, CallbackPolicy, ContactPlan
from app.callbacks.repository import callbacks as repo
from app.callbacks.repository import keys
from app.callbacks.repository import policies as policy_repo
from app.callbacks.repository.callbacks import QueueFilter
from app.callbacks.schemas.callbacks import (
    CallbackAttemptIn,
    CallbackAttemptOut,
    CallbackDetail,
    CallbackOut,
    CallbackUpdate,
)
from app.callbacks.service import business, policies
from app.callbacks.service.timeline import announce, system
from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import BadRequest, InvalidTransition, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, encode_cursor
from app.core.security import ROLE_PERMISSIONS, Permission, Principal
from app.tickets import interface as tickets
from app.tickets.interface import Ticket
from app.timers import service as timers

OVERDUE_TIMER = "callbacks.overdue"
CHANNEL = "phone"  # a callback is a telephone call (客户回访)
MAX_AHEAD = timedelta(days=365)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_WORKERS = {r.value for r in ROLE_PERMISSIONS[Permission.callbacks_work]}
_ENDINGS = {"resolution": ("satisfied", "not_solved", "no_answer"), "plan": ("done", "no_answer")}


def grace() -> timedelta:
    return timedelta(minutes=get_settings().callback_overdue_grace_minutes)


def is_overdue(cb: Callback, now: datetime) -> bool:
    return cb.state == "open" and now >= cb.due_at + grace()


# --- who calls ------------------------------------------------------------------------


async def check_agent(
    uow: UnitOfWork, agent_id: uuid.UUID, branch_id: uuid.UUID, field: str = "agent_id"
) -> None:
    """422 unless `agent_id` is an active identity that makes callbacks and may see the
    branch."""
    who = await keys.identity(uow, agent_id)
    if who is None or not who.active or who.role not in _WORKERS:
        raise Unprocessable(f"{field} does not name an active identity that makes callbacks "
                            "(an agent, a dispatcher, a manager or an admin).", field=field)  # fmt: skip
    if who.branch_id is not None and who.branch_id != branch_id:
        raise Unprocessable(f"{field} works for another branch.", field=field)


async def default_agent(uow: UnitOfWork, ticket: Ticket) -> uuid.UUID | None:
    """The agent who registered the ticket calls back: the desk that took the call
    knows the customer, and the engineer who fixed it does not judge his own work.
    Anyone else's ticket waits in the branch's queue (agent null) to be taken."""
    who = await keys.identity(uow, ticket.created_by)
    if who is None or not who.active or who.role != "agent":
        return None
    if who.branch_id is not None and who.branch_id != ticket.branch_id:
        return None
    return who.id


# --- scheduling -----------------------------------------------------------------------


async def _start(uow: UnitOfWork, cb: Callback, ticket: Ticket | None) -> Callback:
    repo.add(uow, cb)
    await repo.flush(uow)
    await timers.schedule(uow, OVERDUE_TIMER, cb.id, cb.due_at + grace())
    await announce(uow, system(), cb, "callback.scheduled", ticket)
    return cb


async def schedule_resolution(
    uow: UnitOfWork, ticket: Ticket, policy: CallbackPolicy, at: datetime
) -> Callback:
    """The resolution's callback, due by the policy in its calendar."""
    resolved, days = ticket.resolved_at or at, policy.after_business_days
    clock = policies.local_time(policy)
    due = await policies.in_calendar(
        uow, policy, lambda cal: business.callback_due(cal, resolved, days, clock)
    )
    cb = Callback(reason="resolution", ticket_id=ticket.id, branch_id=ticket.branch_id,
                  customer_id=ticket.customer_id, contact_id=ticket.contact_id,
                  agent_id=await default_agent(uow, ticket), due_at=due, created_at=at,
                  updated_at=at)  # fmt: skip
    return await _start(uow, cb, ticket)


async def schedule_plan_call(
    uow: UnitOfWork, plan: ContactPlan, due: datetime, at: datetime
) -> Callback:
    """A contact plan's call, a callback of its own for the plan's agent."""
    cb = Callback(reason="plan", plan_id=plan.id, branch_id=plan.branch_id,
                  customer_id=plan.customer_id, contact_id=plan.contact_id,
                  agent_id=plan.agent_id, due_at=due, note=plan.note, created_at=at,
                  updated_at=at)  # fmt: skip
    return await _start(uow, cb, None)


def _finish(cb: Callback, state: str, outcome: str | None, now: datetime) -> None:
    cb.state, cb.outcome, cb.completed_at = state, outcome, now
    cb.version += 1
    cb.updated_at = now


async def cancel_for_ticket(uow: UnitOfWork, ticket: Ticket, why: str) -> int:
    """Ends the ticket's open callback (the ticket left its resolution: reopened,
    closed, or resolved again); how many there were."""
    now = get_clock().now()
    open_ = await repo.open_of_ticket(uow, ticket.id)
    for cb in open_:
        _finish(cb, "cancelled", None, now)
    await repo.flush(uow)
    await timers.cancel(uow, OVERDUE_TIMER, [cb.id for cb in open_])
    for cb in open_:
        await announce(uow, system(), cb, "callback.cancelled", ticket, why=why)
    return len(open_)


# --- reads ----------------------------------------------------------------------------


def out(cb: Callback, max_attempts: int, now: datetime) -> CallbackOut:
    extra = {"max_attempts": max_attempts, "overdue": is_overdue(cb, now)}
    return CallbackOut.model_validate(cb.model_dump() | extra)


async def _detail(uow: UnitOfWork, cb: Callback) -> CallbackDetail:
    policy = await policies.effective(uow, cb.customer_id)
    base = out(cb, policy.max_attempts, get_clock().now())
    history = [CallbackAttemptOut.model_validate(a.model_dump())
               for a in await repo.attempts(uow, cb.id)]  # fmt: skip
    return CallbackDetail.model_validate(base.model_dump() | {"history": history})


async def _get(uow: UnitOfWork, principal: Principal, callback_id: uuid.UUID,
               lock: bool = False) -> Callback:  # fmt: skip
    cb = await repo.get(uow, principal, callback_id, lock=lock)
    if cb is None:
        raise NotFound("Callback not found.")
    return cb


async def view(uow: UnitOfWork, principal: Principal, callback_id: uuid.UUID) -> CallbackDetail:
    return await _detail(uow, await _get(uow, principal, callback_id))


def _cursor_of(cb: Callback) -> str:
    return encode_cursor(f"{(cb.due_at - _EPOCH) // _US}.{cb.id}")


def _after(page: CodePageParams) -> tuple[datetime, uuid.UUID] | None:
    if page.after is None:
        return None
    try:
        micros, _, ident = page.after.partition(".")
        return _EPOCH + int(micros) * _US, uuid.UUID(ident)
    except (ValueError, OverflowError) as exc:
        raise BadRequest("The cursor is not valid.", param="cursor") from exc


async def queue(
    uow: UnitOfWork, principal: Principal, f: QueueFilter, page: CodePageParams
) -> Page[CallbackOut]:
    """Soonest due first: what an agent calls next is at the top."""
    now = get_clock().now()
    f = dataclasses.replace(f, overdue_cutoff=now - grace())
    rows = await repo.queue(uow, principal, f, limit=page.limit, after=_after(page))
    items = rows[: page.limit]
    own, fallback = await policy_repo.for_customers(uow, list({r.customer_id for r in items}))
    default_max = fallback.max_attempts if fallback else DEFAULT_POLICY["max_attempts"]

    def attempts_of(cb: Callback) -> int:
        mine = own.get(cb.customer_id)
        return mine.max_attempts if mine is not None else int(default_max)

    more = len(rows) > page.limit and items
    return Page[CallbackOut](items=[out(cb, attempts_of(cb), now) for cb in items],
                             next_cursor=_cursor_of(items[-1]) if more else None)  # fmt: skip


# --- reassign, reschedule -------------------------------------------------------------


def _check_due(due: datetime, now: datetime, field: str) -> None:
    if due < now:
        raise Unprocessable(f"{field} must not be in the past.", field=field)
    if due > now + MAX_AHEAD:
        raise Unprocessable(f"{field} must be within 365 days.", field=field)


def _open(cb: Callback, doing: str) -> None:
    if cb.state != "open":
        raise InvalidTransition(f"Cannot {doing} a callback that is '{cb.state}'.",
                                current_state=cb.state, allowed_actions=[])  # fmt: skip


async def update(uow: UnitOfWork, principal: Principal, callback_id: uuid.UUID,
                 body: CallbackUpdate, if_match: str | None) -> CallbackDetail:  # fmt: skip
    cb = await _get(uow, principal, callback_id, lock=True)
    check_if_match(if_match, cb.version)
    _open(cb, "change")
    given, now = body.model_fields_set, get_clock().now()
    events: list[tuple[str, dict[str, Any]]] = []
    if "agent_id" in given and body.agent_id != cb.agent_id:
        if body.agent_id is not None:
            await check_agent(uow, body.agent_id, cb.branch_id)
        before = str(cb.agent_id) if cb.agent_id else None
        cb.agent_id = body.agent_id
        events.append(("callback.reassigned", {"agent_id_before": before}))
    if "due_at" in given:
        if body.due_at is None:
            raise Unprocessable("due_at cannot be null.", field="due_at")
        due = body.due_at.astimezone(UTC)
        if due != cb.due_at:
            _check_due(due, now, "due_at")
            before_due, cb.due_at, cb.overdue_at = cb.due_at, due, None
            await timers.schedule(uow, OVERDUE_TIMER, cb.id, due + grace())
            events.append(("callback.rescheduled", {"due_at_before": before_due}))
    if "note" in given and body.note != cb.note:
        cb.note = body.note
        events = events or [("callback.updated", {})]
    if not events:
        return await _detail(uow, cb)
    cb.version += 1
    cb.updated_at = now
    await repo.flush(uow)
    for type_, extra in events:
        await announce(uow, principal, cb, type_, note=cb.note, **extra)
    return await _detail(uow, cb)


# --- a call's outcome -----------------------------------------------------------------


def _check_outcome(cb: Callback, body: CallbackAttemptIn) -> None:
    allowed = _ENDINGS[cb.reason]
    if body.outcome not in allowed:
        what = "a resolution callback" if cb.reason == "resolution" else "a contact plan's call"
        raise Unprocessable(f"The outcome of {what} is one of: {', '.join(allowed)}.",
                            field="outcome")  # fmt: skip
    if body.outcome == "not_solved" and not body.note:
        raise Unprocessable("Say what is still wrong: the note reopens the ticket.",
                            field="note")  # fmt: skip


async def _locked(uow: UnitOfWork, principal: Principal, callback_id: uuid.UUID) -> Callback:
    """The callback locked after its ticket (the order a ticket change takes them)."""
    cb = await _get(uow, principal, callback_id)
    if cb.ticket_id is not None:
        await tickets.get_for_update(uow, principal, cb.ticket_id)
    return await _get(uow, principal, callback_id, lock=True)


async def record_attempt(uow: UnitOfWork, principal: Principal, callback_id: uuid.UUID,
                         body: CallbackAttemptIn) -> CallbackDetail:  # fmt: skip
    cb = await _locked(uow, principal, callback_id)
    _open(cb, "record a call on")
    _check_outcome(cb, body)
    policy, now = await policies.effective(uow, cb.customer_id), get_clock().now()
    repo.add(uow, CallbackAttempt(callback_id=cb.id, agent_id=principal.id, outcome=body.outcome,
                                  note=body.note, at=now))  # fmt: skip
    cb.attempts += 1
    cb.agent_id = cb.agent_id or principal.id  # an unassigned call is the caller's now
    ending = await _after_call(uow, cb, policy, body.outcome, now)
    await repo.flush(uow)
    await announce(uow, principal, cb, "callback.attempted", channel=CHANNEL, attempt=cb.attempts,
                   attempt_outcome=body.outcome, note=body.note)  # fmt: skip
    if ending is not None and cb.ticket_id is not None:
        await _ticket_step(uow, principal, cb, ending, body.note, policy)
    return await _detail(uow, cb)


async def _after_call(uow: UnitOfWork, cb: Callback, policy: CallbackPolicy, outcome: str,
                      now: datetime) -> str | None:  # fmt: skip
    """The callback's state after this call; its ending outcome, or None (tried again)."""
    if outcome == "no_answer" and cb.attempts < policy.max_attempts:
        minutes = policy.retry_minutes
        cb.due_at = await policies.in_calendar(
            uow, policy, lambda cal: business.retry_due(cal, now, minutes)
        )
        cb.overdue_at = None
        cb.version += 1
        cb.updated_at = now
        await timers.schedule(uow, OVERDUE_TIMER, cb.id, cb.due_at + grace())
        return None
    ending = "unreachable" if outcome == "no_answer" else outcome
    _finish(cb, "done", ending, now)
    await timers.cancel(uow, OVERDUE_TIMER, [cb.id])
    return ending


async def _ticket_step(uow: UnitOfWork, principal: Principal, cb: Callback, ending: str,
                       note: str | None, policy: CallbackPolicy) -> None:  # fmt: skip
    assert cb.ticket_id is not None
    if ending == "satisfied":
        body: dict[str, Any] = {"contact_id": cb.contact_id, "note": note}
        await tickets.act(uow, principal, cb.ticket_id, "confirm", body, None, CHANNEL)
    elif ending == "not_solved":
        await tickets.act(uow, principal, cb.ticket_id, "reopen", {"reason": note}, None, CHANNEL)
    elif ending == "unreachable" and policy.on_exhausted == "close":
        why = f"No answer after {cb.attempts} callback attempts (回访多次未接通)."
        body = {"close_reason": "closed_unreachable", "note": note or why}
        await tickets.act(uow, principal, cb.ticket_id, "confirm", body, None, CHANNEL)


# --- the overdue notice (a timer) -----------------------------------------------------


async def overdue(uow: UnitOfWork, callback_id: uuid.UUID, now: datetime) -> datetime | None:
    """`callback.overdue`, once per due time, for a callback still open past its due
    time and the grace (read again under its lock: it may have been done meanwhile)."""
    cb = await repo.get(uow, None, callback_id, lock=True, nowait=True)
    if cb is None or cb.state != "open" or cb.overdue_at is not None:
        return None
    at = cb.due_at + grace()
    if now < at:
        return at  # rescheduled later: wait for it
    cb.overdue_at = now
    cb.version += 1
    cb.updated_at = now
    await repo.flush(uow)
    await announce(uow, system(), cb, "callback.overdue", overdue_since=cb.due_at)
    return None
