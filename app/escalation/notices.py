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

from app.core.db import UnitOfWork
from app.escalation import repository
from app.tickets import interface as tickets
from app.tickets.interface import OPEN_STATUSES

EVENT = "ticket.escalation_notice"


def _live(r: Any) -> bool:
    if r["status"] not in OPEN_STATUSES:
        return False
    if r["after"] == "warning":
        return bool(r["clock_state"] == "running" and r["outcome"] is None)
    return bool(r["outcome"] == "breached")


async def send(uow: UnitOfWork, notice_ids: list[uuid.UUID], now: datetime) -> None:
    conn = await uow.connection()
    rows = await repository.lock_pending_notices(conn, notice_ids)
    if not rows:
        return
    ids, states = [], []
    events = tickets.SystemEvents()
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
        payload = tickets.outbox_payload(
            r["ticket_id"], r["number"], r["branch_id"], r["status"], r["priority"], data=data
        )
        events.add(r["ticket_id"], EVENT, now, data, payload)
    await repository.set_notice_states(conn, now, ids, states)
    await tickets.insert_system_events(
        uow, now, tickets.SYSTEM.name, tickets.SYSTEM.role.value, events
    )
