"""Escalation's reactions to other domains' events (`app.core.events`)."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.escalation import service
from app.tickets.events import AttemptRecorded


@subscribe(AttemptRecorded, order=10)
async def escalate_on_failed_attempts(uow: UnitOfWork, event: AttemptRecorded) -> None:
    """The Nth failed attempt escalates (N per policy; 三次均无法解决)."""
    if event.outcome == "failed":
        await service.on_failed_attempt(uow, event.ticket, event.actor, event.failed, event.channel)
