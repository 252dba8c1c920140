"""The tickets domain's reactions to other domains' events (`app.core.events`): an SLA
warning or breach goes on the ticket's timeline and, for the outside, into the outbox."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.sla.events import SlaAnnounced
from app.tickets import timeline


@subscribe(SlaAnnounced, order=10)
async def timeline_of_announcements(uow: UnitOfWork, event: SlaAnnounced) -> None:
    """One statement for the whole batch: the timeline events and their outbox rows."""
    rows = timeline.SystemEvents()
    for a in event.items:
        payload = timeline.outbox_payload(
            a.ticket_id, a.number, a.branch_id, a.status, a.priority,
            owner_id=str(a.owner_id) if a.owner_id else None, data=a.data,
        )  # fmt: skip
        rows.add(a.ticket_id, a.event_type, a.at, a.data, payload)
    await timeline.insert_system_events(uow, event.now, event.actor_name, event.actor_role, rows)
