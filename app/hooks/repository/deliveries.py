"""Webhook deliveries' SQL: the outbox consumer's insert, the API's reads and
redeliveries, and the sender's claim and record.

**Claim and lease.** A claim (one autocommit statement, `FOR UPDATE SKIP LOCKED`, so any
number of workers share the rows) sets `state = 'sending'` and both `lease_until` and
`next_attempt_at` to the lease's end: a `sending` row whose lease ran out (its worker
died) is due again through the same condition and the same partial index as a pending
one. The lease value is the claimer's fencing token: a failure is recorded only while
the row is still `sending` under that token, so a slow first claimer cannot overwrite the
outcome of whoever took the row over. A success is recorded without the fence (the
receiver has it: that is the truth) unless the row is already `delivered`. Deliveries of
a disabled subscription are not claimed but marked `failed` by the claim itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from app.core.db import RawSQL, UnitOfWork
from app.hooks.models import WebhookAttempt, WebhookDelivery

_DUE = "d.state IN ('pending', 'retrying', 'sending') AND d.next_attempt_at <= :now::timestamptz"

ANY_DUE = RawSQL(f"SELECT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE {_DUE})")

CLAIM = RawSQL(
    f"""
WITH due AS (
    SELECT d.id, s.active, s.url, s.secret, s.previous_secret, s.previous_expires_at
    FROM webhook_deliveries d
    JOIN webhook_subscriptions s ON s.id = d.subscription_id
    WHERE {_DUE}
    ORDER BY d.next_attempt_at, d.id
    LIMIT :size::int
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET
    state = CASE WHEN due.active THEN 'sending' ELSE 'failed' END,
    lease_until = CASE WHEN due.active THEN :lease::timestamptz END,
    next_attempt_at = CASE WHEN due.active THEN :lease::timestamptz ELSE d.next_attempt_at END,
    last_error = CASE WHEN due.active THEN d.last_error ELSE 'the subscription is disabled' END
FROM due
WHERE d.id = due.id
RETURNING d.id, d.state, d.subscription_id, d.event_id, d.event_type, d.body, d.attempts,
          d.created_at, due.url, due.secret, due.previous_secret, due.previous_expires_at"""
)

RECORD = RawSQL(
    """
WITH r AS (
    SELECT * FROM unnest(:ids::uuid[], :tokens::timestamptz[], :states::text[],
                         :next_at::timestamptz[], :statuses::int[], :errors::text[],
                         :ok::boolean[])
        AS r(id, token, state, next_at, status, error, ok)
)
UPDATE webhook_deliveries d SET
    state = r.state,
    attempts = d.attempts + 1,
    next_attempt_at = COALESCE(r.next_at, d.next_attempt_at),
    lease_until = NULL,
    last_status = r.status,
    last_error = r.error,
    delivered_at = CASE WHEN r.ok THEN :now::timestamptz ELSE d.delivered_at END
FROM r
WHERE d.id = r.id
  AND CASE WHEN r.ok THEN d.state <> 'delivered'
           ELSE d.state = 'sending' AND d.lease_until = r.token END
RETURNING d.id"""
)

ATTEMPTS = RawSQL(
    """
INSERT INTO webhook_attempts (id, delivery_id, started_at, duration_ms, address, outcome,
                              status_code, response_excerpt, error)
SELECT a.* FROM unnest(:ids::uuid[], :deliveries::uuid[], :started::timestamptz[],
                       :durations::int[], :addresses::text[], :outcomes::text[],
                       :statuses::int[], :excerpts::text[], :errors::text[])
    AS a(id, delivery_id, started_at, duration_ms, address, outcome, status_code,
         response_excerpt, error)
-- A delivery deleted meanwhile (its subscription was) has no log to add to; the lock
-- keeps the others from going while the batch is recorded.
JOIN webhook_deliveries d ON d.id = a.delivery_id
FOR KEY SHARE OF d"""
)


# --- the outbox consumer ------------------------------------------------------------------


async def insert_new(uow: UnitOfWork, rows: list[dict[str, Any]]) -> int:
    """Writes the deliveries, skipping any (subscription, event) that exists; returns how
    many were new."""
    if not rows:
        return 0
    stmt = (
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        .returning(col(WebhookDelivery.id))
    )
    return len((await uow.session.execute(stmt)).all())


# --- the API ------------------------------------------------------------------------------


async def list_page(
    uow: UnitOfWork,
    subscription_id: uuid.UUID,
    *,
    limit: int,
    after: uuid.UUID | None,
    state: str | None,
) -> list[WebhookDelivery]:
    """Newest first (keyset on the UUIDv7 id), `limit + 1` rows."""
    stmt: Any = select(WebhookDelivery).where(
        col(WebhookDelivery.subscription_id) == subscription_id
    )
    if state is not None:
        stmt = stmt.where(col(WebhookDelivery.state) == state)
    if after is not None:
        stmt = stmt.where(col(WebhookDelivery.id) < after)
    stmt = stmt.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get(
    uow: UnitOfWork, delivery_id: uuid.UUID, lock: bool = False
) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def attempts_of(uow: UnitOfWork, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    stmt = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id) == delivery_id)
        .order_by(col(WebhookAttempt.started_at), col(WebhookAttempt.id))
    )
    return list((await uow.session.execute(stmt)).scalars())


def _not_in_flight(now: datetime) -> Any:
    return or_(
        col(WebhookDelivery.state) != "sending",
        col(WebhookDelivery.lease_until).is_(None),
        col(WebhookDelivery.lease_until) <= now,
    )


def requeue(delivery: WebhookDelivery, now: datetime) -> None:
    delivery.state, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.lease_until = None
    delivery.delivered_at = None


async def requeue_since(
    uow: UnitOfWork, subscription_id: uuid.UUID, since: datetime, now: datetime
) -> int:
    """Every delivery of the subscription created at or after `since`, but those an
    attempt holds right now, pending again, due now, with a fresh schedule."""
    stmt = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == subscription_id,
            col(WebhookDelivery.created_at) >= since,
            _not_in_flight(now),
        )
        .values(
            state="pending", attempts=0, next_attempt_at=now, lease_until=None, delivered_at=None
        )
        .execution_options(synchronize_session=False)
    )
    return int((await uow.session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]


# --- the sender -----------------------------------------------------------------------------


async def any_due(uow: UnitOfWork, now: datetime) -> bool:
    conn = await uow.connection()
    return bool(await conn.fetchval(ANY_DUE.sql, *ANY_DUE.args({"now": now})))


async def claim(uow: UnitOfWork, now: datetime, lease: datetime, size: int) -> list[Any]:
    """Up to `size` due deliveries, now `sending` under `lease` (or `failed`: their
    subscription is disabled), oldest due first, with their subscription's URL and
    secrets. One autocommit statement: the claim is durable when it returns."""
    conn = await uow.connection()
    rows = await conn.fetch(CLAIM.sql, *CLAIM.args({"now": now, "lease": lease, "size": size}))
    return sorted(rows, key=lambda r: r["id"])


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to, and what the delivery becomes."""

    delivery_id: uuid.UUID
    token: datetime  # the claim's lease (the fence of a failure's record)
    state: str  # delivered, retrying, failed
    next_at: datetime | None
    ok: bool
    attempt_id: uuid.UUID
    started_at: datetime
    duration_ms: int
    address: str | None
    outcome: str  # the attempt's (ATTEMPT_OUTCOMES)
    status: int | None
    excerpt: str | None
    error: str | None


async def record(uow: UnitOfWork, outcomes: list[Outcome], now: datetime) -> set[uuid.UUID]:
    """Every attempt into the log, and each delivery's new state where the row is still
    ours (see the module's docstring). Returns the ids of the deliveries recorded. Runs
    in the unit of work's transaction (the caller opens its session first)."""
    if not outcomes:
        return set()
    conn = await uow.connection()
    o = outcomes
    await conn.execute(ATTEMPTS.sql, *ATTEMPTS.args({
        "ids": [x.attempt_id for x in o], "deliveries": [x.delivery_id for x in o],
        "started": [x.started_at for x in o], "durations": [x.duration_ms for x in o],
        "addresses": [x.address for x in o], "outcomes": [x.outcome for x in o],
        "statuses": [x.status for x in o], "excerpts": [x.excerpt for x in o],
        "errors": [x.error for x in o],
    }))  # fmt: skip
    rows = await conn.fetch(RECORD.sql, *RECORD.args({
        "ids": [x.delivery_id for x in o], "tokens": [x.token for x in o],
        "states": [x.state for x in o], "next_at": [x.next_at for x in o],
        "statuses": [x.status for x in o], "errors": [x.error for x in o],
        "ok": [x.ok for x in o], "now": now,
    }))  # fmt: skip
    return {r["id"] for r in rows}
