"""Publishing to the outbox (in the caller's transaction)."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.db import UnitOfWork
from app.outbox.models import OutboxMessage


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
