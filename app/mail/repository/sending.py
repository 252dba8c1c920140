"""The sender's SQL: claiming due deliveries, marking each attempt before it starts and
its outcome right after, giving back what a broken session did not start, and counting
a recipient's synchronous hard bounces.

Each statement is a single autocommit statement on the unit of work's raw connection
(no session is opened), so each is its own short transaction: the marks are durable
the moment the statement returns, which is the point of them. A delivery's attempt row
is written inside the same statements (data-modifying CTEs), so the history costs no
round trip of its own.

**The lease and its fence.** A claim sets `state = 'sending'` and `available_at` to the
claim's lease (now + the lease time). The lease value is also the claimer's fencing
token: marking an attempt started requires `available_at` still to be the token, and
sets a new one (now + the lease time) that the outcome requires in turn. A row whose
lease ran out is due again (`sending`, `available_at <= now`: the due index covers
it); whoever claims it moves `available_at`, so a slow first claimer can no longer
start it or overwrite its outcome. Only `sent` is recorded without the fence: once the
server accepted the message that is the truth, whoever else holds the row (unless the
row is final meanwhile: a bounce that made it `dead` is not undone).

**Resends.** `sending_at` is set when an attempt starts and cleared by an outcome that
says nothing was handed over (a refusal, a connection lost before DATA). Still set when
the next attempt starts, it means the previous one may have reached the server (a
worker killed between DATA and the record, or no answer after the body): that attempt
is a resend with the same `Message-ID`, counted in `resends`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import RawSQL, UnitOfWork

_OPEN = "('queued', 'retrying', 'sending')"

ANY_DUE = RawSQL(
    f"""
SELECT EXISTS (
    SELECT 1 FROM email_deliveries
    WHERE state IN {_OPEN} AND available_at <= :now::timestamptz
)"""
)

# Oldest due first, on the partial index `ix_email_deliveries_due`. A row whose address
# is suppressed is marked so here instead of being claimed. Attempts a dead worker left
# in progress are marked interrupted.
CLAIM = RawSQL(
    f"""
WITH due AS (
    SELECT d.id, d.state AS was, s.address IS NOT NULL AS suppressed
    FROM email_deliveries d
    LEFT JOIN mail_suppressions s ON s.address = d.address AND s.suppressed
    WHERE d.state IN {_OPEN} AND d.available_at <= :now::timestamptz
    ORDER BY d.available_at, d.id
    LIMIT :size::int
    FOR UPDATE OF d SKIP LOCKED
), interrupted AS (
    UPDATE email_delivery_attempts a SET outcome = 'interrupted'
    FROM due
    WHERE a.delivery_id = due.id AND due.was = 'sending' AND a.outcome = 'in_progress'
)
UPDATE email_deliveries e SET
    state = CASE WHEN due.suppressed THEN 'suppressed' ELSE 'sending' END,
    reason = CASE WHEN due.suppressed THEN 'the address is on the suppression list'
                  ELSE e.reason END,
    available_at = CASE WHEN due.suppressed THEN e.available_at
                        ELSE :lease::timestamptz END,
    updated_at = :now::timestamptz
FROM due
WHERE e.id = due.id
RETURNING e.id, e.state, e.event_type, e.address, e.display_name, e.subject,
          e.text_body, e.html_body, e.message_id, e.in_reply_to, e.created_at,
          e.held_until"""
)

# One statement per message, right after the server's answer: the outcome of the message
# just sent (`done_*`) and the start of the next one (`next_*`), each optional. So the
# outcome is durable before anything else happens, and marking the next attempt costs
# no round trip (nor commit) of its own.
STEP = RawSQL(
    """
WITH done AS (
    UPDATE email_deliveries SET
        state = :state::text,
        sent_at = CASE WHEN :state::text = 'sent' THEN COALESCE(sent_at, :now::timestamptz)
                       ELSE sent_at END,
        last_error = :error::text,
        available_at = CASE WHEN :state::text = 'sent' THEN available_at
                            ELSE :available_at::timestamptz END,
        sending_at = CASE WHEN :state::text = 'sent' OR :maybe_delivered::boolean
                          THEN sending_at END,
        -- A refusal that was about us, not the message (MAIL FROM refused): the try
        -- does not count against the message's attempts.
        attempts = attempts - :uncounted::int,
        updated_at = :now::timestamptz
    WHERE id = :done_id::uuid
      AND CASE WHEN :state::text = 'sent' THEN state IN ('sending', 'retrying', 'queued')
               ELSE state = 'sending' AND available_at = :done_token::timestamptz END
    RETURNING id
), done_attempt AS (
    UPDATE email_delivery_attempts SET
        outcome = :outcome::text, finished_at = :now::timestamptz, code = :code::int,
        reply = :reply::text
    WHERE id = :done_attempt::uuid
), prior AS (
    SELECT id, sending_at IS NOT NULL AS resend FROM email_deliveries WHERE id = :next_id::uuid
), started AS (
    UPDATE email_deliveries e SET
        attempts = e.attempts + 1,
        resends = e.resends + prior.resend::int,
        sending_at = :now::timestamptz,
        available_at = :lease::timestamptz,
        updated_at = :now::timestamptz
    FROM prior
    WHERE e.id = prior.id AND e.state = 'sending' AND e.available_at = :next_token::timestamptz
    RETURNING e.id, e.attempts, prior.resend
), started_attempt AS (
    INSERT INTO email_delivery_attempts (id, delivery_id, started_at, outcome, resend, server)
    SELECT :next_attempt::uuid, started.id, :now::timestamptz, 'in_progress', started.resend,
           :server::text
    FROM started
)
SELECT (SELECT count(*) FROM done) AS recorded, started.attempts, started.resend
FROM (SELECT 1) AS one LEFT JOIN started ON true"""
)


# Claimed and never started: due again at once, in the state they came from (a row
# with attempts behind it was retrying; `sending_at` is kept, so a resend stays one).
RELEASE = RawSQL(
    """
UPDATE email_deliveries SET
    state = CASE WHEN attempts = 0 THEN 'queued' ELSE 'retrying' END,
    available_at = :now::timestamptz, updated_at = :now::timestamptz
WHERE id = ANY(:ids::uuid[]) AND state = 'sending' AND available_at = :token::timestamptz"""
)

HARD_BOUNCE = RawSQL(
    """
INSERT INTO mail_suppressions AS m
    (address, hard_bounces, suppressed, last_reason, last_bounce_at, created_at, updated_at)
VALUES (:address::text, 1, 1 >= :threshold::int, :reason::text, :now::timestamptz,
        :now::timestamptz, :now::timestamptz)
ON CONFLICT (address) DO UPDATE SET
    -- The count starts again when the last bounce is older than the window.
    hard_bounces = CASE WHEN m.last_bounce_at < :since::timestamptz THEN 1
                        ELSE m.hard_bounces + 1 END,
    suppressed = m.suppressed OR CASE WHEN m.last_bounce_at < :since::timestamptz THEN 1
                                      ELSE m.hard_bounces + 1 END >= :threshold::int,
    last_reason = EXCLUDED.last_reason,
    last_bounce_at = EXCLUDED.last_bounce_at,
    updated_at = EXCLUDED.updated_at
RETURNING suppressed"""
)


async def _fetchval(uow: UnitOfWork, stmt: RawSQL, values: dict[str, Any]) -> Any:
    conn = await uow.connection()
    return await conn.fetchval(stmt.sql, *stmt.args(values))


async def any_due(uow: UnitOfWork, now: datetime) -> bool:
    return bool(await _fetchval(uow, ANY_DUE, {"now": now}))


async def claim(uow: UnitOfWork, now: datetime, lease: datetime, size: int) -> list[Any]:
    """Up to `size` due deliveries, now `sending` under the lease `lease` (or
    `suppressed`), oldest due first."""
    conn = await uow.connection()
    rows = await conn.fetch(CLAIM.sql, *CLAIM.args({"now": now, "lease": lease, "size": size}))
    # RETURNING follows no order: send them oldest first, as claimed.
    return sorted(rows, key=lambda r: r["id"])


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an attempt: `state` sent, retrying or dead."""

    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    token: datetime  # the attempt's lease (the fence of a failure's record)
    state: str
    outcome: str  # the attempt's: sent, temporary, permanent, unknown
    code: int | None
    reply: str
    error: str | None = None
    available_at: datetime | None = None  # when a retry is due
    maybe_delivered: bool = False  # no answer after the body: the next try is a resend
    uncounted: bool = False  # the server refused us, not the message: attempts unchanged


@dataclass(frozen=True, slots=True)
class Start:
    """An attempt about to begin (marked before MAIL FROM)."""

    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    token: datetime  # the claim's lease
    lease: datetime  # the attempt's
    server: str


async def step(
    uow: UnitOfWork, now: datetime, done: Outcome | None, start: Start | None
) -> tuple[bool, tuple[int, bool] | None]:
    """Records `done` and marks `start` in one statement: (whether `done` was recorded,
    (attempts, is a resend) of `start` or None when the claim is no longer ours: its
    lease ran out and another worker took it)."""
    values: dict[str, Any] = {
        "now": now, "state": None, "error": None, "available_at": None,
        "maybe_delivered": False, "uncounted": 0, "done_id": None, "done_token": None,
        "outcome": None, "code": None, "reply": None, "done_attempt": None, "next_id": None,
        "next_token": None, "lease": None, "next_attempt": None, "server": None,
    }  # fmt: skip
    if done is not None:
        values.update(state=done.state, error=done.error, available_at=done.available_at,
                      maybe_delivered=done.maybe_delivered, uncounted=int(done.uncounted),
                      done_id=done.delivery_id, done_token=done.token, outcome=done.outcome,
                      code=done.code, reply=done.reply, done_attempt=done.attempt_id)  # fmt: skip
    if start is not None:
        values.update(next_id=start.delivery_id, next_token=start.token, lease=start.lease,
                      next_attempt=start.attempt_id, server=start.server)  # fmt: skip
    conn = await uow.connection()
    row = await conn.fetchrow(STEP.sql, *STEP.args(values))
    assert row is not None
    started = None if row["attempts"] is None else (int(row["attempts"]), bool(row["resend"]))
    return bool(row["recorded"]), started


async def start(uow: UnitOfWork, begin: Start, now: datetime) -> tuple[int, bool] | None:
    """Marks an attempt started (durable before MAIL FROM): see `step`."""
    return (await step(uow, now, None, begin))[1]


async def release(uow: UnitOfWork, ids: list[uuid.UUID], token: datetime, now: datetime) -> int:
    if not ids:
        return 0
    conn = await uow.connection()
    status = await conn.execute(RELEASE.sql, *RELEASE.args({"ids": ids, "token": token,
                                                            "now": now}))  # fmt: skip
    return int(status.split()[-1])


async def hard_bounce(
    uow: UnitOfWork, address: str, reason: str, now: datetime, threshold: int, since: datetime
) -> bool:
    """Counts a hard bounce of the address (the count starts again when the last one is
    older than `since`); True when it is (now) suppressed."""
    values = {"address": address, "reason": reason[:1000], "now": now, "threshold": threshold,
              "since": since}  # fmt: skip
    return bool(await _fetchval(uow, HARD_BOUNCE, values))
