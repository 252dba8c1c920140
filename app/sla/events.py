"""The events the SLA domain publishes (`app.core.events`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Announced:
    """One warning or breach of a clock, stamped when it fell due (announcements.py),
    with the facts of its ticket at that moment (for the timeline, the outbox payload
    and escalation's policy)."""

    clock_id: uuid.UUID
    ticket_id: uuid.UUID
    event_type: str  # sla.warning | sla.breached
    at: datetime
    data: dict[str, Any]
    number: str
    branch_id: uuid.UUID
    status: str
    priority: str
    owner_id: uuid.UUID | None
    service_level: str | None

    @property
    def kind(self) -> str:
        return "warning" if self.event_type == "sla.warning" else "breach"


@dataclass(frozen=True, slots=True)
class SlaAnnounced:
    """Clocks' warnings and breaches, a batch (the clocks' timers) or one (a ticket
    change found a clock already late). The clocks are written; the tickets domain
    records the timeline events and outbox rows, escalation starts what its policies
    say, both in this transaction."""

    items: list[Announced]
    now: datetime
    actor_name: str
    actor_role: str
