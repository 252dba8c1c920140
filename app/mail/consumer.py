"""The outbox consumer of e-mail notices (placeholder)."""

from __future__ import annotations

from app.core.db import UnitOfWork
from app.outbox.models import OutboxMessage


async def consume(uow: UnitOfWork, message: OutboxMessage) -> None:
    return None


consume.consumer_name = "mail"  # type: ignore[attr-defined]
