"""The ticket's timeline, `ticket_events`: the one module that builds its rows, each
with its outbox row where the outside must hear of it. Three forms, one column list:
`record_event` (one event in the unit of work's session), `insert_select` (a fragment
for a larger statement: the creation's), `insert_system_events` (many at once, for the
workers' batches: SLA announcements, escalation notices)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from app.core.clock import get_clock
from app.core.db import RawSQL, UnitOfWork
from app.core.ids import uuid7
from app.core.security import Principal
from app.outbox import rows as outbox_rows
from app.outbox.service import publish
from app.tickets.models import Ticket, TicketEvent


@dataclass(frozen=True)
class _Role:
    value: str


@dataclass(frozen=True)
class SystemActor:
    """The actor of what the workers do on their own (a timer firing): it records events
    like a principal, with no API key behind it."""

    id: None = None
    name: str = "Supportline"
    role: _Role = _Role("system")


SYSTEM: Any = SystemActor()


def record_event(
    uow: UnitOfWork,
    ticket: Ticket,
    principal: Principal,
    channel: str | None,
    type_: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    announce: bool = True,
) -> TicketEvent:
    """One event on the ticket's timeline, and (`announce`) its outbox row."""
    event = TicketEvent(
        ticket_id=ticket.id,
        type=type_,
        actor_id=principal.id,
        actor_name=principal.name,
        actor_role=principal.role.value,
        channel=channel,
        at=get_clock().now(),
        before=before,
        after=after,
        data=data,
    )
    uow.session.add(event)
    if announce:
        publish(
            uow,
            type_,
            "ticket",
            ticket.id,
            outbox_payload(
                ticket.id,
                ticket.number,
                ticket.branch_id,
                ticket.status,
                ticket.priority,
                before=before,
                after=after,
                data=data,
            ),
            event_id=event.id,
        )
    return event


def outbox_payload(
    ticket_id: uuid.UUID,
    number: str,
    branch_id: uuid.UUID,
    status: str,
    priority: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """The outbox payload of a ticket event: the ticket's facts, the change and its data
    (`facts`: more of the ticket's, e.g. an SLA announcement's `owner_id`)."""
    return {
        "ticket_id": str(ticket_id),
        "number": number,
        "branch_id": str(branch_id),
        "status": status,
        "priority": priority,
        **facts,
        "before": before,
        "after": after,
        "data": data,
    }


def insert_select(
    *,
    id: str,
    ticket_id: str,
    type: str,
    actor_id: str,
    actor_name: str,
    actor_role: str,
    channel: str,
    at: str,
    source: str,
    before: str = "NULL",
    after: str = "NULL",
    data: str = "NULL",
) -> str:
    """`INSERT INTO ticket_events ... SELECT <expressions> FROM <source>`, each argument a
    SQL expression over `source`, for a statement that writes more than the event."""
    return f"""INSERT INTO ticket_events (id, ticket_id, type, actor_id, actor_name,
                               actor_role, channel, at, before, after, data)
    SELECT {id}, {ticket_id}, {type}, {actor_id}, {actor_name}, {actor_role}, {channel},
           {at}, {before}, {after}, {data}
    FROM {source}"""


_SYSTEM_EVENTS = RawSQL(
    f"""
    WITH e AS (
        {
        insert_select(
            id="x.id",
            ticket_id="x.ticket_id",
            type="x.type",
            actor_id="NULL",
            actor_name=":actor_name::text",
            actor_role=":actor_role::text",
            channel="NULL",
            at="x.at",
            data="x.data::jsonb",
            source='''unnest(:ids::uuid[], :tickets::uuid[], :types::text[], :data::text[],
                             :ats::timestamptz[]) AS x(id, ticket_id, type, data, at)''',
        )
    }
    )
    {
        outbox_rows.insert_select(
            id="x.id",
            event_type="x.type",
            aggregate_type="'ticket'",
            aggregate_id="x.ticket_id",
            event_id="x.event_id",
            payload="x.payload::jsonb",
            now=":now::timestamptz",
            source='''unnest(:outbox::uuid[], :types::text[], :tickets::uuid[], :ids::uuid[],
                         :payloads::text[]) AS x(id, type, ticket_id, event_id, payload)''',
        )
    }
    """
)


@dataclass
class SystemEvents:
    """Timeline events of nobody's action, gathered for one statement: parallel lists,
    as `_SYSTEM_EVENTS` reads them, each event with its outbox row."""

    ids: list[uuid.UUID] = field(default_factory=list)
    tickets: list[uuid.UUID] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    ats: list[datetime] = field(default_factory=list)
    outbox: list[uuid.UUID] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)

    def add(
        self,
        ticket_id: uuid.UUID,
        type_: str,
        at: datetime,
        data: dict[str, Any],
        payload: dict[str, Any],
    ) -> None:
        self.ids.append(uuid7())
        self.tickets.append(ticket_id)
        self.types.append(type_)
        self.ats.append(at)
        self.data.append(orjson.dumps(data).decode())
        self.outbox.append(uuid7())
        self.payloads.append(orjson.dumps(payload).decode())


async def insert_system_events(
    uow: UnitOfWork, now: datetime, actor_name: str, actor_role: str, events: SystemEvents
) -> None:
    """The gathered events and their outbox rows (the event's id as the row's
    `event_id`), in one statement; nothing when there are none."""
    if not events.ids:
        return
    conn = await uow.connection()
    values = {"now": now, "actor_name": actor_name, "actor_role": actor_role, **vars(events)}
    await conn.execute(_SYSTEM_EVENTS.sql, *_SYSTEM_EVENTS.args(values))
