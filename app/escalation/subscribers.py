"""Escalation's reactions to other domains' events (`app.core.events`)."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.escalation import service, sla
from app.sla.events import SlaAnnounced
from app.tickets.events import AttemptRecorded
from app.tickets.interface import OPEN_STATUSES
from app.timers import service as timers


@subscribe(AttemptRecorded, order=10)
async def escalate_on_failed_attempts(uow: UnitOfWork, event: AttemptRecorded) -> None:
    """The Nth failed attempt escalates (N per policy; 三次均无法解决)."""
    if event.outcome == "failed":
        await service.on_failed_attempt(uow, event.ticket, event.actor, event.failed, event.channel)


@subscribe(SlaAnnounced, order=20)
async def escalate_announcements(uow: UnitOfWork, event: SlaAnnounced) -> None:
    """What a warning or breach of an open ticket starts: the functional escalation's
    timer and the notice chain (escalation/sla.py), counted from when it fell due."""
    items = [
        (a.clock_id, a.ticket_id, a.service_level, a.kind, a.at)
        for a in event.items
        if a.status in OPEN_STATUSES
    ]
    if items:
        conn = await uow.connection()
        woken = await sla.on_announcements(conn, items, event.now, timers.is_soon)
        timers.wake_after_commit(uow, woken)
