"""The hierarchical chain's notices, sent a batch at a time (an SLA warning wave makes one
notice per clock): the batch's notices are locked and read with what they are about in
one statement, and their states, timeline events and outbox rows written in another.

A notice is sent only if what it is about still holds: a warning's while the clock runs
unmet, a breach's while the ticket is open; otherwise it is cancelled. "team_manager" is
resolved to the owner's team manager at sending time; while the ticket waits unowned in a
line's queue (escalated, nobody on duty could take it), to the team manager of the
secondary owner, the previous owner who follows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from app.core.db import RawSQL, UnitOfWork
from app.core.ids import uuid7
from app.tickets import interface as tickets
from app.tickets.interface import OPEN_STATUSES

EVENT = "ticket.escalation_notice"

_READ = RawSQL(
    """
    SELECT n.id, n.ticket_id, n.clock_id, n.after, n.level, n.recipients,
           c.state AS clock_state, c.outcome, t.status, t.number, t.branch_id, t.priority,
           (SELECT tm.manager_id FROM engineers e JOIN teams tm ON tm.id = e.team_id
            WHERE e.id = COALESCE(t.owner_id, t.secondary_owner_id)) AS manager_id
    FROM escalation_notices n
    JOIN tickets t ON t.id = n.ticket_id
    LEFT JOIN ticket_clocks c ON c.id = n.clock_id
    WHERE n.id = ANY(:ids::uuid[]) AND n.state = 'pending'
    ORDER BY n.id
    FOR UPDATE OF n
    """
)
_STATES = RawSQL(
    """
    UPDATE escalation_notices n SET state = x.state,
           sent_at = CASE WHEN x.state = 'sent' THEN :now::timestamptz END
    FROM unnest(:ids::uuid[], :states::text[]) AS x(id, state)
    WHERE n.id = x.id
    """
)


def _live(r: Any) -> bool:
    if r["status"] not in OPEN_STATUSES:
        return False
    if r["after"] == "warning":
        return bool(r["clock_state"] == "running" and r["outcome"] is None)
    return bool(r["outcome"] == "breached")


async def send(uow: UnitOfWork, notice_ids: list[uuid.UUID], now: datetime) -> None:
    conn = await uow.connection()
    rows = await conn.fetch(_READ.sql, *_READ.args({"ids": notice_ids}))
    if not rows:
        return
    ids, states = [], []
    events: dict[str, list[Any]] = {"ids": [], "tickets": [], "types": [], "data": [],
                                    "ats": [], "outbox": [], "payloads": []}  # fmt: skip
    for r in rows:
        ids.append(r["id"])
        if not _live(r):
            states.append("cancelled")
            continue
        states.append("sent")
        recipients = orjson.loads(r["recipients"]) if isinstance(r["recipients"], str) \
            else list(r["recipients"])  # fmt: skip
        resolved = []
        for who in recipients:
            if who == "team_manager":
                if r["manager_id"] is not None:
                    resolved.append(str(r["manager_id"]))
            else:
                resolved.append(str(who))
        data = {"level": r["level"], "after": r["after"], "recipients": resolved,
                "clock_id": str(r["clock_id"])}  # fmt: skip
        payload = {"ticket_id": str(r["ticket_id"]), "number": r["number"],
                   "branch_id": str(r["branch_id"]), "status": r["status"],
                   "priority": r["priority"], "before": None, "after": None, "data": data}  # fmt: skip
        events["ids"].append(uuid7())
        events["tickets"].append(r["ticket_id"])
        events["types"].append(EVENT)
        events["data"].append(orjson.dumps(data).decode())
        events["ats"].append(now)
        events["outbox"].append(uuid7())
        events["payloads"].append(orjson.dumps(payload).decode())
    await conn.execute(_STATES.sql, *_STATES.args({"now": now, "ids": ids, "states": states}))
    if events["ids"]:
        await tickets.insert_system_events(
            uow, now, tickets.SYSTEM.name, tickets.SYSTEM.role.value, events
        )
