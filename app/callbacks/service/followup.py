"""A resolution's follow-up, started and ended with it (in the ticket change's
transaction, from `app.callbacks.subscribers`).

On resolve: the survey of this resolution, the callback (if the customer's policy has
them) due on the policy's business day in its calendar, and the silence close N business
days after the resolution. When the ticket leaves the resolution (reopened by a mail
reply or a "not solved" callback, confirmed, closed on silence), its open callback is
cancelled and the silence close with it; the survey stays answerable."""

from __future__ import annotations

from datetime import datetime

from app.callbacks.service import callbacks, policies, silence, surveys
from app.core.db import UnitOfWork
from app.tickets.interface import Ticket


async def on_resolved(uow: UnitOfWork, ticket: Ticket, at: datetime) -> None:
    policy = await policies.effective(uow, ticket.customer_id)
    # A callback of an earlier resolution still open would be a bug; end it rather than
    # leave two (the unique index would refuse the new one).
    await callbacks.cancel_for_ticket(uow, ticket, "resolved again")
    await surveys.create_for(uow, ticket, at)
    if policy.enabled:
        await callbacks.schedule_resolution(uow, ticket, policy, at)
    await silence.schedule(uow, ticket, policy, at)


async def on_left_resolution(uow: UnitOfWork, ticket: Ticket, status: str) -> None:
    await callbacks.cancel_for_ticket(uow, ticket, f"ticket {status}")
    # Closed on silence, the close is that timer firing: the firing marks it fired, and
    # cancelling it here would leave a timer that did its work recorded as cancelled.
    if ticket.close_reason != silence.CLOSE_REASON:
        await silence.cancel(uow, ticket.id)
