"""The outbox service: `publish()` (in the caller's transaction, used by every domain),
plus the administration rules behind /v1/outbox and housekeeping."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound
from app.outbox import repository
from app.outbox.models import ConsumerReceipt, OutboxMessage
from app.outbox.schemas import OutboxStats, OutboxStatusCounts

log = logging.getLogger("supportline.outbox")


def publish(
    uow: UnitOfWork,
    event_type: str,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    payload: dict[str, Any],
    event_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """Adds an outbox row to the current transaction; it is flushed with the change."""
    message = OutboxMessage(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_id=event_id,
        payload=payload,
    )
    uow.session.add(message)
    return message


# --- Administration (the /v1/outbox API) and housekeeping ------------------------------


async def get(uow: UnitOfWork, message_id: uuid.UUID) -> OutboxMessage:
    message = await repository.get_message(uow, message_id)
    if message is None:
        raise NotFound("Outbox message not found.")
    return message


async def retry(uow: UnitOfWork, message_id: uuid.UUID) -> OutboxMessage:
    """A dead letter goes back to pending, due now, with a fresh attempt budget.

    Consumers that already succeeded keep their receipts and skip it; only the ones
    that failed run again.
    """
    message = await repository.get_message(uow, message_id, for_update=True)
    if message is None:
        raise NotFound("Outbox message not found.")
    if message.status != "dead":
        raise Conflict(
            f"Only dead messages can be retried; this one is '{message.status}'.",
            current_status=message.status,
        )
    message.status = "pending"
    message.attempts = 0
    message.available_at = get_clock().now()
    await uow.session.flush()
    log.info("outbox message requeued", extra={"fields": {"message_id": str(message.id)}})
    return message


async def purge_delivered(uow: UnitOfWork, older_than: datetime, batch: int = 5000) -> int:
    """One bounded batch (short locks on a large table); call until it returns < batch."""
    return await repository.purge_delivered(uow, older_than, batch)


async def stats(uow: UnitOfWork) -> OutboxStats:
    now = get_clock().now()
    s = await repository.stats(uow, now)
    oldest = s.oldest_pending_created_at
    due_at = s.oldest_due_available_at
    return OutboxStats(
        counts=OutboxStatusCounts(**s.counts),
        due=s.due,
        oldest_pending_created_at=oldest,
        oldest_pending_age_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else None,
        lag_seconds=max((now - due_at).total_seconds(), 0.0) if due_at else 0.0,
    )


async def list_messages(
    uow: UnitOfWork,
    status: str | None,
    event_type: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[OutboxMessage]:
    return await repository.list_messages(uow, status, event_type, after, limit)


async def get_with_receipts(
    uow: UnitOfWork, message_id: uuid.UUID
) -> tuple[OutboxMessage, list[ConsumerReceipt]]:
    message = await get(uow, message_id)
    return message, await repository.receipts_of(uow, message_id)
