"""Reads the roster from PostgreSQL and answers "who is on duty for line L, skill S,
branch B at time T" (the rules are the pure functions of duty.py). Raw asyncpg: the
assignment of a ticket asks this on its hot path, over thousands of engineers.

One set-based read model, kept whole: inside people only the repository reads it (the
services ask the repository); outside, the assignment imports `top_candidates` and `OnDuty`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.core.db import RawSQL, UnitOfWork
from app.people.duty import RotationSpec, ShiftSpec, duty_reason


@dataclass(frozen=True, slots=True)
class OnDuty:
    id: uuid.UUID
    name: str
    line: str
    branch_id: uuid.UUID
    team_id: uuid.UUID | None
    region: str | None
    parent_branch_id: uuid.UUID | None
    max_load: int
    open_tickets: int
    open_load: int
    last_assigned_at: datetime | None
    skill_level: int | None
    reason: str
    # The branch its API key is limited to (None: all): it can only work tickets it sees.
    scope_branch_id: uuid.UUID | None = None

    def sees(self, branch_id: uuid.UUID) -> bool:
        return self.scope_branch_id is None or self.scope_branch_id == branch_id


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Active engineers of the line (any line when null) whose API key is active, with their
# time zone. Two forms: driven by the skills wanted (their index finds the few engineers
# who have one, with the best level), or every engineer when no skill is asked for.
_COLUMNS = """
    e.id, e.name, e.line, e.branch_id, e.team_id, e.max_load, e.open_tickets, e.open_load,
    e.last_assigned_at, COALESCE(t.timezone, b.timezone) AS tz, b.region, b.parent_id,
    k.branch_id AS scope
"""
_JOINS = """
    JOIN api_keys k ON k.id = e.id AND k.active
    JOIN branches b ON b.id = e.branch_id
    LEFT JOIN teams t ON t.id = e.team_id
"""
_FILTER = """
    e.active AND (:line::text IS NULL OR e.line = :line::text)
    AND (:ids::uuid[] IS NULL OR e.id = ANY(:ids::uuid[]))
"""
_WITH_SKILL = RawSQL(
    f"""
    WITH sk AS (
        SELECT s.engineer_id, max(s.level) AS level FROM engineer_skills s
        JOIN unnest(:kinds::text[], :codes::text[]) AS w(kind, code)
          ON s.kind = w.kind AND s.code = w.code
        GROUP BY s.engineer_id
    )
    SELECT {_COLUMNS}, sk.level AS skill_level
    FROM sk JOIN engineers e ON e.id = sk.engineer_id {_JOINS}
    WHERE {_FILTER}
    """
)
_ANY_SKILL = RawSQL(
    f"SELECT {_COLUMNS}, NULL::int AS skill_level FROM engineers e {_JOINS} WHERE {_FILTER}"
)
# Only the shifts that can cover `at`: those starting on the engineer's local date or the
# day before (a shift past midnight), by weekday or date; duty.py decides exactly.
_SHIFTS = RawSQL(
    """
    SELECT s.id, s.engineer_id, s.weekday, s.on_date, s.starts, s.ends, s.valid_from,
           s.valid_until
    FROM unnest(:ids::uuid[], :tzs::text[]) AS x(engineer_id, tz)
    CROSS JOIN LATERAL (SELECT (:at::timestamptz AT TIME ZONE x.tz)::date AS day) d
    JOIN duty_shifts s ON s.engineer_id = x.engineer_id
    WHERE (s.weekday IN (extract(isodow FROM d.day)::int - 1,
                         extract(isodow FROM d.day - 1)::int - 1)
           OR s.on_date IN (d.day, d.day - 1))
    """
)
_ABSENT = RawSQL(
    """
    SELECT DISTINCT engineer_id FROM absences
    WHERE engineer_id = ANY(:ids::uuid[]) AND starts_at <= :at::timestamptz
      AND ends_at > :at::timestamptz
    """
)
_ROTATIONS = RawSQL(
    """
    SELECT id, starts_at, period_hours, members FROM oncall_rotations
    WHERE active AND starts_at <= :at::timestamptz AND members && :ids::uuid[]
    """
)


async def on_duty(
    uow: UnitOfWork,
    at: datetime,
    line: str | None = None,
    skills: list[tuple[str, str]] | None = None,
    engineer_ids: list[uuid.UUID] | None = None,
) -> list[OnDuty]:
    """Active engineers on duty at `at` (a shift covers it or it is their on-call turn,
    and no absence), of `line`, with one of `skills` ((kind, code) pairs)."""
    conn = await uow.connection()
    values: dict[str, object] = {"line": line, "ids": engineer_ids}
    if skills:
        values |= {"kinds": [k for k, _ in skills], "codes": [c for _, c in skills]}
        rows = await conn.fetch(_WITH_SKILL.sql, *_WITH_SKILL.args(values))
    else:
        rows = await conn.fetch(_ANY_SKILL.sql, *_ANY_SKILL.args(values))
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    tzs = [r["tz"] for r in rows]
    shifts: dict[uuid.UUID, list[ShiftSpec]] = {}
    for s in await conn.fetch(_SHIFTS.sql, *_SHIFTS.args({"ids": ids, "tzs": tzs, "at": at})):
        shifts.setdefault(s["engineer_id"], []).append(
            ShiftSpec(s["id"], s["weekday"], s["on_date"], s["starts"], s["ends"],
                      s["valid_from"], s["valid_until"])
        )  # fmt: skip
    absent = {
        r["engineer_id"]
        for r in await conn.fetch(_ABSENT.sql, *_ABSENT.args({"ids": ids, "at": at}))
    }
    on_call: dict[uuid.UUID, list[uuid.UUID]] = {}
    for r in await conn.fetch(_ROTATIONS.sql, *_ROTATIONS.args({"ids": ids, "at": at})):
        member = RotationSpec(r["id"], r["starts_at"], r["period_hours"],
                              tuple(r["members"])).on_call(at)  # fmt: skip
        if member is not None:
            on_call.setdefault(member, []).append(r["id"])
    out = []
    for r in rows:
        if r["id"] in absent:
            continue
        reason = duty_reason(
            at, _zone(r["tz"]), shifts.get(r["id"], ()), (), on_call.get(r["id"], ())
        )
        if reason is None:
            continue
        out.append(
            OnDuty(r["id"], r["name"], r["line"], r["branch_id"], r["team_id"], r["region"],
                   r["parent_id"], r["max_load"], r["open_tickets"], r["open_load"],
                   r["last_assigned_at"], r["skill_level"], reason, r["scope"])
        )  # fmt: skip
    return out


# --- the assignment's hot path -------------------------------------------------------------
# The same rules as duty.py, in one statement, so that choosing among thousands of engineers
# returns only the best few: the local date and time are computed once per time zone, each
# candidate's shifts are found through its index, and the ranking (branch, load, idle time)
# is the ORDER BY. tests/api/test_duty_sql.py checks it against duty.py on random rosters.
_TOP = RawSQL(
    """
    WITH zones AS (
        SELECT z.tz, (:at::timestamptz AT TIME ZONE z.tz) AS local
        FROM (SELECT timezone AS tz FROM branches UNION SELECT timezone FROM teams) z
    ), clock AS MATERIALIZED (  -- once per zone, not once per shift row
        SELECT tz, local::date AS day, local::time AS t,
               extract(isodow FROM local)::int - 1 AS dow,
               extract(isodow FROM local - interval '1 day')::int - 1 AS prev_dow
        FROM zones
    ), sk AS (
        SELECT s.engineer_id, max(s.level) AS level FROM engineer_skills s
        JOIN unnest(:kinds::text[], :codes::text[]) AS w(kind, code)
          ON s.kind = w.kind AND s.code = w.code
        GROUP BY s.engineer_id
    ), qualified AS (
        SELECT e.id, e.name, e.line, e.branch_id, e.team_id, e.max_load, e.open_tickets,
               e.open_load, e.last_assigned_at, b.region, b.parent_id, sk.level AS skill_level,
               k.branch_id AS scope, c.day, c.t, c.dow, c.prev_dow,
               CASE WHEN e.branch_id = :branch::uuid THEN 0
                    WHEN e.branch_id = :parent::uuid OR b.parent_id = :branch::uuid
                      OR b.parent_id = :parent::uuid OR b.region = :region::text THEN 1
                    ELSE 2 END AS branch_rank
        FROM sk
        JOIN engineers e ON e.id = sk.engineer_id
        JOIN api_keys k ON k.id = e.id AND k.active
        JOIN branches b ON b.id = e.branch_id
        LEFT JOIN teams t ON t.id = e.team_id
        JOIN clock c ON c.tz = COALESCE(t.timezone, b.timezone)
        WHERE e.active AND e.line = :line::text
          AND (k.branch_id IS NULL OR k.branch_id = :branch::uuid)
          AND e.id IS DISTINCT FROM :owner::uuid AND e.id IS DISTINCT FROM :secondary::uuid
          AND NOT EXISTS (SELECT 1 FROM absences a WHERE a.engineer_id = e.id
                          AND a.starts_at <= :at::timestamptz AND a.ends_at > :at::timestamptz)
    ), on_duty AS (
        SELECT q.*, COALESCE(sh.reason, oc.reason) AS reason
        FROM qualified q
        LEFT JOIN LATERAL (
            SELECT 'shift:' || s.id AS reason FROM duty_shifts s
            WHERE s.engineer_id = q.id
              AND (s.weekday IN (q.dow, q.prev_dow) OR s.on_date IN (q.day, q.day - 1))
              AND (
                ((s.on_date = q.day OR (s.weekday = q.dow
                     AND (s.valid_from IS NULL OR s.valid_from <= q.day)
                     AND (s.valid_until IS NULL OR s.valid_until >= q.day)))
                 AND q.t >= s.starts AND (s.ends <= s.starts OR q.t < s.ends))
                OR
                ((s.on_date = q.day - 1 OR (s.weekday = q.prev_dow
                     AND (s.valid_from IS NULL OR s.valid_from <= q.day - 1)
                     AND (s.valid_until IS NULL OR s.valid_until >= q.day - 1)))
                 AND s.ends <= s.starts AND q.t < s.ends))
            LIMIT 1
        ) sh ON true
        LEFT JOIN LATERAL (
            SELECT 'on_call:' || x.rotation AS reason
            FROM unnest(:on_call::uuid[], :rotations::uuid[]) AS x(engineer, rotation)
            WHERE x.engineer = q.id LIMIT 1
        ) oc ON true
    ), counted AS (
        SELECT d.*, count(*) OVER () AS considered FROM on_duty d WHERE d.reason IS NOT NULL
    )
    SELECT * FROM counted
    WHERE open_tickets < max_load
    ORDER BY branch_rank, open_load, last_assigned_at NULLS FIRST, id
    LIMIT :limit::int
    """
)
_ACTIVE_ROTATIONS = RawSQL(
    "SELECT id, starts_at, period_hours, members FROM oncall_rotations"
    " WHERE active AND starts_at <= :at::timestamptz"
)


async def top_candidates(
    uow: UnitOfWork,
    at: datetime,
    line: str,
    skills: list[tuple[str, str]],
    branch_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    region: str | None,
    owner_id: uuid.UUID | None,
    limit: int = 10,
    secondary_id: uuid.UUID | None = None,
) -> tuple[list[OnDuty], int]:
    """The best `limit` engineers on duty at `at` to take a ticket of `line` needing one
    of `skills` in `branch_id`, with room, best first (same branch, then near, then any;
    least open load; longest since the last assignment); and how many qualified."""
    conn = await uow.connection()
    on_call: list[uuid.UUID] = []
    rotations: list[uuid.UUID] = []
    for r in await conn.fetch(_ACTIVE_ROTATIONS.sql, *_ACTIVE_ROTATIONS.args({"at": at})):
        member = RotationSpec(r["id"], r["starts_at"], r["period_hours"],
                              tuple(r["members"])).on_call(at)  # fmt: skip
        if member is not None:
            on_call.append(member)
            rotations.append(r["id"])
    rows = await conn.fetch(
        _TOP.sql,
        *_TOP.args(
            {
                "at": at,
                "kinds": [k for k, _ in skills],
                "codes": [c for _, c in skills],
                "branch": branch_id,
                "parent": parent_id,
                "region": region,
                "line": line,
                "owner": owner_id,
                "secondary": secondary_id,
                "on_call": on_call,
                "rotations": rotations,
                "limit": limit,
            }
        ),
    )
    out = [
        OnDuty(r["id"], r["name"], r["line"], r["branch_id"], r["team_id"], r["region"],
               r["parent_id"], r["max_load"], r["open_tickets"], r["open_load"],
               r["last_assigned_at"], r["skill_level"], r["reason"], r["scope"])
        for r in rows
    ]  # fmt: skip
    return out, int(rows[0]["considered"]) if rows else 0
