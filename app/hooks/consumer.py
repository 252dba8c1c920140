"""PLACEHOLDER (helper B): the outbox consumer that writes webhook_deliveries."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.outbox.models import OutboxMessage


async def consume(uow: UnitOfWork, message: OutboxMessage) -> None:
    return None


consume.consumer_name = "webhooks"  # type: ignore[attr-defined]
