"""What an SLA warning or breach starts in escalation, written by the SLA timers' batch
in its own transaction, set-based: a timer for the functional escalation of each clock
(per policy: on warning or on breach), and the hierarchical chain's notices with their
timers (each level after its delay). The work itself happens when those timers fire
(timers.py): the escalation locks the ticket, which the SLA batch must not (a ticket
change locks the ticket before the clocks' timers; the batch holds those timers)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.core.db import RawSQL
from app.core.ids import uuid7
from app.escalation import repository
from app.timers import rows as timer_rows

ESCALATE_TIMER = "escalation.sla"
NOTICE_TIMER = "escalation.notice"
BUILTIN_LEVELS: list[dict[str, Any]] = [
    {"level": 1, "after": "warning", "delay_minutes": 0, "recipients": ["team_manager"]},
    {"level": 2, "after": "breach", "delay_minutes": 0,
     "recipients": ["team_manager", "role:manager"]},
    {"level": 3, "after": "breach", "delay_minutes": 60, "recipients": ["role:admin"]},
]  # fmt: skip

_TIMERS = RawSQL(
    timer_rows.insert_select(
        id="x.id",
        kind="x.kind",
        subject_id="x.subject",
        due_at="x.due",
        soon="x.soon",
        now=":now::timestamptz",
        source="""unnest(:ids::uuid[], :kinds::text[], :subjects::uuid[], :dues::timestamptz[],
                         :soon::bool[]) AS x(id, kind, subject, due, soon)""",
        on_conflict="ON CONFLICT (kind, subject_id) DO NOTHING",
    )
)


async def on_announcements(
    conn: asyncpg.Connection,
    announced: list[tuple[uuid.UUID, uuid.UUID, str | None, str, datetime]],
    now: datetime,
    soon: Any,
) -> list[datetime]:
    """`announced`: (clock id, ticket id, service level, "warning" | "breach", when it
    fell due). The functional escalation and each notice level count from that instant,
    not from `now`: a warning announced late is escalated at once, and a level "60
    minutes after the breach" is due 60 minutes after the breach. Returns the due times
    of the timers set (the caller wakes a worker for those due soon)."""
    if not announced:
        return []
    policies = await repository.policy_rows(conn)
    default = policies.get("*")
    timers: dict[str, list[Any]] = {"ids": [], "kinds": [], "subjects": [], "dues": [], "soon": []}
    notices: dict[str, list[Any]] = {"ids": [], "tickets": [], "clocks": [], "afters": [],
                                     "levels": [], "recipients": [], "dues": []}  # fmt: skip
    for clock_id, ticket_id, level, after, fell_due in announced:
        p = policies.get(level) or default
        functional_on = p["functional_on"] if p else "breach"
        levels = p["notify_levels"] if p else BUILTIN_LEVELS
        if isinstance(levels, str):
            levels = orjson.loads(levels)
        if functional_on == after:
            timers["ids"].append(uuid7())
            timers["kinds"].append(ESCALATE_TIMER)
            timers["subjects"].append(clock_id)
            timers["dues"].append(fell_due)
        for lv in levels:
            if lv.get("after") != after:
                continue
            notices["ids"].append(uuid7())
            notices["tickets"].append(ticket_id)
            notices["clocks"].append(clock_id)
            notices["afters"].append(after)
            notices["levels"].append(int(lv["level"]))
            notices["recipients"].append(orjson.dumps(lv.get("recipients", [])).decode())
            delay = timedelta(minutes=int(lv.get("delay_minutes", 0)))
            notices["dues"].append(fell_due + delay)
    if notices["ids"]:
        for r in await repository.insert_notices(conn, now, notices):
            timers["ids"].append(uuid7())
            timers["kinds"].append(NOTICE_TIMER)
            timers["subjects"].append(r["id"])
            timers["dues"].append(r["due_at"])
    if not timers["ids"]:
        return []
    timers["soon"] = [soon(d, now) for d in timers["dues"]]
    await conn.execute(_TIMERS.sql, *_TIMERS.args({"now": now, **timers}))
    return [d for d, s in zip(timers["dues"], timers["soon"], strict=True) if s]
