"""Closing on silence (DOMAIN 2): a resolved ticket whose reporter neither confirms nor
answers within the policy's business days of the resolution closes by itself, recorded
as `closed_by_silence` (the ticket's `ticket.closed` event carries the reason).

The timer (`callbacks.silence_close`, one per ticket) is set at the resolution and
cancelled when the ticket leaves it (a reply by mail or a "not solved" callback reopens
it, a confirmation closes it); a new resolution sets it again, as a new version. The
handler still reads the ticket under its lock before closing: only a ticket that is
resolved now closes."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.callbacks.models import CallbackPolicy
from app.callbacks.repository import locks
from app.callbacks.service import business, policies
from app.callbacks.service.timeline import note, system
from app.core.db import UnitOfWork
from app.tickets import interface as tickets
from app.tickets.interface import Ticket
from app.timers import service as timers

SILENCE_TIMER = "callbacks.silence_close"
CLOSE_REASON = "closed_by_silence"


async def schedule(uow: UnitOfWork, ticket: Ticket, policy: CallbackPolicy, at: datetime) -> None:
    days, resolved = policy.silence_business_days, ticket.resolved_at or at
    due = await policies.in_calendar(
        uow, policy, lambda cal: business.silence_due(cal, resolved, days)
    )
    await timers.schedule(uow, SILENCE_TIMER, ticket.id, due)
    data = {"due_at": due.isoformat(), "business_days": days,
            "calendar_id": str(policy.calendar_id)}  # fmt: skip
    await note(uow, system(), ticket, "silence_close.scheduled", data)


async def cancel(uow: UnitOfWork, ticket_id: uuid.UUID) -> None:
    await timers.cancel(uow, SILENCE_TIMER, [ticket_id])


async def close_if_silent(uow: UnitOfWork, ticket_id: uuid.UUID, now: datetime) -> None:
    """The timer: closes the ticket if it is still resolved. The ticket's lock is waited
    for briefly only: a request holding it may be reopening it (and cancelling this
    timer), so the firing gives way and is retried."""
    async with locks.give_way(uow):
        ticket = await tickets.get_any(uow, ticket_id, lock=True)
    if ticket is None or ticket.status != "resolved":
        return
    policy = await policies.effective(uow, ticket.customer_id)
    why = (f"The reporter neither confirmed nor answered within "
           f"{policy.silence_business_days} business days of the resolution.")  # fmt: skip
    body = {"close_reason": CLOSE_REASON, "note": why}
    await tickets.act(uow, system(), ticket.id, "confirm", body, None, None)
