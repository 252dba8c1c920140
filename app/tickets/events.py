"""The ticket events other domains subscribe to (`app.core.events`): published by the
tickets package inside the change's unit of work, after the change and its timeline
event are written, so a handler sees the ticket as it now is and may change it further
through `app.tickets.interface`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.tickets.models import Ticket


@dataclass(frozen=True, slots=True)
class Holding:
    """What a ticket weighs on its owner: the owner, the status and the priority.
    Compared before and after a change, it says whether load moved."""

    owner_id: uuid.UUID | None
    status: str
    priority: str


def holding(ticket: Ticket) -> Holding:
    return Holding(ticket.owner_id, ticket.status, ticket.priority)


@dataclass(slots=True)
class TicketCreating:
    """A ticket is about to be inserted: handlers may add timers to its creation's one
    statement (`timers`: (kind, due) pairs, each keyed to the ticket), so that what
    another domain starts with the ticket costs no round trip of its own. They must not
    query: the statement has not run."""

    ticket_id: uuid.UUID
    priority: str
    device_id: uuid.UUID | None
    now: datetime
    timers: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TicketCreated:
    """A ticket was registered. `auto_assign`: its SLA policy assigns at once, and the
    creation's session is open for the handlers (the ticket row is written)."""

    ticket_id: uuid.UUID
    principal: Any
    auto_assign: bool


@dataclass(frozen=True, slots=True)
class TicketChanged:
    """A change or lifecycle action moved the ticket's owner, status or priority (or
    none of them: published only when `before != after`). `assigned`: the change was an
    assignment (it stamps the owner's last assignment)."""

    ticket: Ticket
    before: Holding
    after: Holding
    at: datetime
    assigned: bool
    actor: Any
    channel: str | None


@dataclass(frozen=True, slots=True)
class AttemptRecorded:
    """A work attempt was logged; `failed` counts the ticket's failed attempts so far."""

    ticket: Ticket
    actor: Any
    outcome: str
    failed: int
    channel: str | None
