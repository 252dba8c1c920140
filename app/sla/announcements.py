"""Warnings and breaches announced by the clocks' timers, a batch at a time: the clocks
are read and locked in one statement, and the clock updates, timeline events and outbox
rows of the whole batch are written in another. The shapes of the event data and the
outbox payload are defined here once, for these and for the breaches a ticket change
finds (service.py).

A timer that fires late (workers down, a backlog, or the demo's back-dated tickets) stamps
the warning and the breach with the instant each fell due (the clock's `warn_at` and
`due_at`), in the clock and on the timeline, not with the firing time: that is when the
SLA was at risk or missed, and what reports count. What follows from them is emitted now
(the outbox rows), and escalation's timers and notices count from the same instants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from app.core.db import RawSQL, UnitOfWork
from app.core.ids import uuid7
from app.escalation import sla as escalation_sla
from app.timers import service as timers

WARN = "sla.warning"
BREACH = "sla.breached"
# Warnings and breaches are nobody's action: the timeline names the SLA engine.
SYSTEM_NAME, SYSTEM_ROLE = "SLA", "system"


def event_data(
    clock_id: uuid.UUID,
    metric: str,
    due_at: datetime | None,
    warn_at: datetime | None,
    target_seconds: int,
) -> dict[str, Any]:
    return {
        "clock_id": str(clock_id),
        "metric": metric,
        "due_at": due_at.isoformat() if due_at else None,
        "warn_at": warn_at.isoformat() if warn_at else None,
        "target_seconds": target_seconds,
    }


def outbox_payload(
    ticket_id: uuid.UUID,
    number: str,
    branch_id: uuid.UUID,
    status: str,
    priority: str,
    owner_id: uuid.UUID | None,
    data: dict[str, Any],
) -> dict[str, Any]:
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


# Lock order: the firing took the clocks' timers first; a ticket change takes them in the
# same order (timers, then clocks), so the two wait for each other but cannot deadlock.
_CLOCKS = RawSQL(
    """
    SELECT c.id, c.ticket_id, c.metric, c.state, c.outcome, c.warn_at, c.due_at,
           c.warned_at, c.target_seconds, t.number, t.branch_id, t.status, t.priority,
           t.owner_id, t.service_level
    FROM ticket_clocks c JOIN tickets t ON t.id = c.ticket_id
    WHERE c.id = ANY(:ids::uuid[])
    ORDER BY c.id
    FOR UPDATE OF c
    """
)
_WRITE = RawSQL(
    """
    WITH c AS (
        UPDATE ticket_clocks c SET
            warned_at = COALESCE(x.warned_at, c.warned_at),
            outcome = COALESCE(x.outcome, c.outcome),
            breached_at = COALESCE(x.breached_at, c.breached_at),
            updated_at = :now::timestamptz
        FROM unnest(:clock_ids::uuid[], :warned_at::timestamptz[], :outcome::text[],
                    :breached_at::timestamptz[]) AS x(id, warned_at, outcome, breached_at)
        WHERE c.id = x.id
    ), e AS (
        INSERT INTO ticket_events (id, ticket_id, type, actor_id, actor_name, actor_role,
                                   channel, at, data)
        SELECT x.id, x.ticket_id, x.type, NULL, :actor_name::text, :actor_role::text, NULL,
               x.at, x.data::jsonb
        FROM unnest(:event_ids::uuid[], :tickets::uuid[], :types::text[], :data::text[],
                    :ats::timestamptz[])
             AS x(id, ticket_id, type, data, at)
    )
    INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, event_id, payload,
                        status, attempts, created_at, available_at)
    SELECT x.id, x.type, 'ticket', x.ticket_id, x.event_id, x.payload::jsonb, 'pending', 0,
           :now::timestamptz, :now::timestamptz
    FROM unnest(:outbox_ids::uuid[], :types::text[], :tickets::uuid[], :event_ids::uuid[],
                :payloads::text[]) AS x(id, type, ticket_id, event_id, payload)
    """
)


async def on_timers(
    uow: UnitOfWork, clock_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, datetime]:
    """The clocks' timers fired: announce what is due on each running clock (a warning,
    a breach, or both when the workers were down past both points). Returns, per clock
    that must be announced again, when (its due time, after a warning)."""
    conn = await uow.connection()
    rows = await conn.fetch(_CLOCKS.sql, *_CLOCKS.args({"ids": clock_ids}))
    again: dict[uuid.UUID, datetime] = {}
    escalating: list[tuple[uuid.UUID, uuid.UUID, str | None, str, datetime]] = []
    clocks: dict[str, list[Any]] = {"ids": [], "warned": [], "outcome": [], "breached": []}
    events: dict[str, list[Any]] = {"ids": [], "tickets": [], "types": [], "data": [],
                                    "ats": [], "outbox": [], "payloads": []}  # fmt: skip
    for r in rows:
        # Stopped or paused since the timer was set (the ticket change moved or cancelled
        # the timer too, so this is rare), or never armed: nothing to announce.
        if r["state"] != "running" or r["outcome"] is not None:
            continue
        if r["warn_at"] is None or r["due_at"] is None:
            continue
        kinds = []
        warning_ahead = r["warned_at"] is None and now < r["warn_at"]
        if r["warned_at"] is None and not warning_ahead:
            kinds.append(WARN)
        breach = now >= r["due_at"]
        if breach:
            kinds.append(BREACH)
        else:
            again[r["id"]] = r["warn_at"] if warning_ahead else r["due_at"]
        if not kinds:
            continue  # woken before its point (cannot happen with a due timer; harmless)
        clocks["ids"].append(r["id"])
        # When each fell due, however late the timer fired (the module's doc).
        fell_due = {WARN: r["warn_at"], BREACH: r["due_at"]}
        clocks["warned"].append(fell_due[WARN] if WARN in kinds else None)
        clocks["outcome"].append("breached" if breach else None)
        clocks["breached"].append(fell_due[BREACH] if breach else None)
        data = event_data(r["id"], r["metric"], r["due_at"], r["warn_at"], r["target_seconds"])
        payload = orjson.dumps(
            outbox_payload(r["ticket_id"], r["number"], r["branch_id"], r["status"],
                           r["priority"], r["owner_id"], data)
        ).decode()  # fmt: skip
        for kind in kinds:
            escalating.append((r["id"], r["ticket_id"], r["service_level"],
                               "warning" if kind == WARN else "breach", fell_due[kind]))  # fmt: skip
            events["ids"].append(uuid7())
            events["tickets"].append(r["ticket_id"])
            events["types"].append(kind)
            events["ats"].append(fell_due[kind])
            events["data"].append(orjson.dumps(data).decode())
            events["outbox"].append(uuid7())
            events["payloads"].append(payload)
    if clocks["ids"]:
        await conn.execute(
            _WRITE.sql,
            *_WRITE.args(
                {
                    "now": now,
                    "clock_ids": clocks["ids"],
                    "warned_at": clocks["warned"],
                    "outcome": clocks["outcome"],
                    "breached_at": clocks["breached"],
                    "actor_name": SYSTEM_NAME,
                    "actor_role": SYSTEM_ROLE,
                    "event_ids": events["ids"],
                    "tickets": events["tickets"],
                    "types": events["types"],
                    "data": events["data"],
                    "ats": events["ats"],
                    "outbox_ids": events["outbox"],
                    "payloads": events["payloads"],
                }
            ),
        )
        # Escalation's part: timers for the functional escalation and the notices.
        woken = await escalation_sla.on_announcements(conn, escalating, now, timers.is_soon)
        timers.wake_after_commit(uow, woken)
    return again
