"""Warnings and breaches announced by the clocks' timers, a batch at a time: the clocks
are read and locked in one statement, and the clock updates, timeline events and outbox
rows of the whole batch are written in another. The shape of the event data is defined
here once, for these and for the breaches a ticket change
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

from app.core import events
from app.core.db import UnitOfWork
from app.sla import repository
from app.sla.events import Announced, SlaAnnounced

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


async def on_timers(
    uow: UnitOfWork, clock_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, datetime]:
    """The clocks' timers fired: announce what is due on each running clock (a warning,
    a breach, or both when the workers were down past both points). Returns, per clock
    that must be announced again, when (its due time, after a warning)."""
    # Lock order: the firing took the clocks' timers first; a ticket change takes them in
    # the same order (timers, then clocks), so the two wait for each other but cannot
    # deadlock.
    rows = await repository.lock_clocks(uow, clock_ids)
    again: dict[uuid.UUID, datetime] = {}
    clocks: dict[str, list[Any]] = {"ids": [], "warned": [], "outcome": [], "breached": []}
    items: list[Announced] = []
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
        items += [announced(r, kind, fell_due[kind], data) for kind in kinds]
    if clocks["ids"]:
        await repository.write_announced(
            uow, now, clocks["ids"], clocks["warned"], clocks["outcome"], clocks["breached"]
        )
        # The timeline, the outbox and escalation's part: their domains' handlers.
        await events.publish(uow, SlaAnnounced(items, now, SYSTEM_NAME, SYSTEM_ROLE))
    return again


def announced(r: Any, event_type: str, at: datetime, data: dict[str, Any]) -> Announced:
    """An announcement from a row with the clock's id and its ticket's facts."""
    return Announced(
        clock_id=r["id"], ticket_id=r["ticket_id"], event_type=event_type, at=at, data=data,
        number=r["number"], branch_id=r["branch_id"], status=r["status"],
        priority=r["priority"], owner_id=r["owner_id"], service_level=r["service_level"],
    )  # fmt: skip
