"""The tickets domain's reactions to other domains' events (`app.core.events`): an SLA
warning or breach goes on the ticket's timeline and, for the outside, into the outbox."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from app.core.db import UnitOfWork
from app.core.events import subscribe
from app.core.ids import uuid7
from app.sla.events import SlaAnnounced
from app.tickets import timeline


@subscribe(SlaAnnounced, order=10)
async def timeline_of_announcements(uow: UnitOfWork, event: SlaAnnounced) -> None:
    """One statement for the whole batch: the timeline events and their outbox rows."""
    rows: dict[str, list[object]] = {"ids": [], "tickets": [], "types": [], "data": [],
                                     "ats": [], "outbox": [], "payloads": []}  # fmt: skip
    for a in event.items:
        payload = _payload(a.ticket_id, a.number, a.branch_id, a.status, a.priority,
                                 a.owner_id, a.data)  # fmt: skip
        rows["ids"].append(uuid7())
        rows["tickets"].append(a.ticket_id)
        rows["types"].append(a.event_type)
        rows["ats"].append(a.at)
        rows["data"].append(orjson.dumps(a.data).decode())
        rows["outbox"].append(uuid7())
        rows["payloads"].append(orjson.dumps(payload).decode())
    await timeline.insert_system_events(uow, event.now, event.actor_name, event.actor_role, rows)


def _payload(
    ticket_id: uuid.UUID,
    number: str,
    branch_id: uuid.UUID,
    status: str,
    priority: str,
    owner_id: uuid.UUID | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The outbox payload of an SLA warning or breach: the ticket's facts, as every
    ticket event's payload has them, and the announcement's data."""
    return {
        "ticket_id": str(ticket_id),
        "number": number,
        "branch_id": str(branch_id),
        "status": status,
        "priority": priority,
        "owner_id": str(owner_id) if owner_id else None,
        "before": None,
        "after": None,
        "data": data,
    }
