"""Draining the outbox: take due rows, hand them to the consumers, record the outcome.

One call of `drain_once()` is one transaction:

1. `SELECT ... WHERE status = 'pending' AND available_at <= now ORDER BY available_at, id
   LIMIT n FOR UPDATE SKIP LOCKED`. Rows another drain holds are skipped, not waited
   for, so any number of drains (cron ticks, several workers) run side by side and never
   take the same row; none of them needs an advisory lock.
2. The consumers with a batch handler get the batch's rows they want at once, each row
   still with its own receipt (a failed batch is dispatched again row by row, see
   `app.outbox.dispatcher`); then each row is dispatched in a SAVEPOINT to the other
   consumers (each in a SAVEPOINT of its own). Success marks it delivered; a failure
   rolls back the failed consumer's writes for that row, counts the attempt, stores the
   error and pushes `available_at` back by an exponential backoff with jitter; after
   OUTBOX_MAX_ATTEMPTS the row is dead (a dead letter, retried only by an admin).
3. Commit. Until then every effect (consumer rows, receipts, marks) is invisible; a
   worker killed mid-batch leaves nothing behind, PostgreSQL releases the row locks
   when the connection drops, and the next drain does the batch again: at-least-once
   dispatch, exactly-once effects.

Time comes from the injected clock (`app.core.clock.get_clock()`), not from the
database's now(): the rows' `created_at` / `available_at` are stamped by the
application's clock when published (`ts_field`), so comparing them with the same clock
keeps one notion of time, and tests pin the clock to walk through backoff and
dead-lettering without sleeping. Application hosts are NTP-synchronised; a skew of a
second only moves a delivery by a second.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import inspect, select
from sqlmodel import col

from app.core.clock import get_clock
from app.core.config import Settings, get_settings
from app.core.db import UnitOfWork, sessionmaker
from app.core.metrics import OUTBOX_DELIVERED, OUTBOX_FAILED, OUTBOX_LAG
from app.outbox.dispatcher import ConsumerFailure, Dispatcher
from app.outbox.dispatcher import dispatcher as default_dispatcher
from app.outbox.models import OutboxMessage

log = logging.getLogger("supportline.outbox")

LAST_ERROR_MAX = 2000  # outbox.last_error
JITTER = 0.1  # a delay is shortened by up to 10 %, so retries of a burst spread out


def backoff_seconds(attempts: int, base: float, cap: float, rand: float | None = None) -> float:
    """Delay before the next try after `attempts` failures (attempts >= 1):
    base * 2**(attempts-1), capped, minus up to JITTER of itself (never above the cap)."""
    exponent = max(attempts - 1, 0)
    delay = cap if exponent >= 64 else min(cap, base * 2**exponent)
    r = random.random() if rand is None else rand  # noqa: S311 - jitter, not a secret
    return delay * (1 - JITTER * r)


def _describe(failures: list[ConsumerFailure]) -> str:
    text = "; ".join(f"{f.consumer}: {type(f.error).__name__}: {f.error}" for f in failures)
    if len(text) > LAST_ERROR_MAX:
        text = text[: LAST_ERROR_MAX - 1] + "…"
    return text


async def _handle(
    uow: UnitOfWork,
    dispatcher: Dispatcher,
    message: OutboxMessage,
    settings: Settings,
    batched: list[ConsumerFailure] | None = None,
) -> bool:
    """Dispatches one locked row to the consumers without a batch handler and records
    the outcome, with the batch consumers' `batched` failures; True when delivered."""
    message_id, event_type, attempts = message.id, message.event_type, message.attempts
    clock = get_clock()
    failures = list(batched or ())
    if dispatcher.has_unbatched(event_type):
        try:
            async with uow.session.begin_nested():
                failures += await dispatcher.dispatch(uow, message, clock.now(), unbatched=True)
        except Exception as exc:  # the dispatcher itself failed (e.g. a receipt insert)
            failures.append(ConsumerFailure("dispatcher", exc))
    if inspect(message).expired_attributes:
        # A rolled-back SAVEPOINT expires what was changed inside it; reload before use
        # (a lazy load would fail in async code).
        await uow.session.refresh(message)
    now = clock.now()
    if not failures:
        message.status = "delivered"
        message.delivered_at = now
        OUTBOX_DELIVERED.labels(event_type).inc()
        return True

    message.attempts = attempts + 1
    message.last_error = _describe(failures)
    fields = {
        "message_id": str(message_id),
        "event_type": event_type,
        "attempts": message.attempts,
        "consumers": [f.consumer for f in failures],
        # Error types only: messages may quote SQL parameters (payload data); the full
        # text is in outbox.last_error, visible to admins through the API.
        "errors": [type(f.error).__name__ for f in failures],
    }
    if message.attempts >= settings.outbox_max_attempts:
        message.status = "dead"
        OUTBOX_FAILED.labels(event_type, "true").inc()
        log.error("outbox message dead-lettered", extra={"fields": fields})
    else:
        delay = backoff_seconds(
            message.attempts,
            settings.outbox_backoff_base_seconds,
            settings.outbox_backoff_max_seconds,
        )
        message.available_at = now + timedelta(seconds=delay)
        OUTBOX_FAILED.labels(event_type, "false").inc()
        log.warning(
            "outbox delivery failed, will retry",
            extra={"fields": {**fields, "retry_in_seconds": round(delay, 3)}},
        )
    return False


async def drain_once(batch_size: int | None = None, dispatcher: Dispatcher | None = None) -> int:
    """Drains one batch in one transaction; returns how many rows it took (delivered or
    failed). Fewer than `batch_size` means nothing more is due right now."""
    settings = get_settings()
    size = batch_size or settings.outbox_batch_size
    disp = dispatcher or default_dispatcher
    # A unit of work closed in `finally`, without open_uow's rollback: leaving by any
    # exception, cancellation included, closes the session, which rolls the transaction
    # back at once with no further await to be cancelled.
    uow = UnitOfWork(sessionmaker())
    try:
        session = uow.session
        now: datetime = get_clock().now()
        stmt = (
            select(OutboxMessage)
            .where(col(OutboxMessage.status) == "pending", col(OutboxMessage.available_at) <= now)
            .order_by(col(OutboxMessage.available_at), col(OutboxMessage.id))
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        rows = list((await session.execute(stmt)).scalars())
        # The oldest due row we could take: how far behind the outbox is (rows locked by a
        # concurrent drain are being handled and do not count as lag).
        OUTBOX_LAG.set(max((now - rows[0].available_at).total_seconds(), 0.0) if rows else 0.0)
        batched = await disp.dispatch_batches(uow, rows, get_clock().now()) if rows else {}
        for message in rows:
            await _handle(uow, disp, message, settings, batched.get(message.id))
        await uow.commit()
    finally:
        await uow.close()
    return len(rows)
