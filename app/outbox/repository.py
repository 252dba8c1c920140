"""The outbox's queries for the admin API and housekeeping (the drain has its own)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import col

from app.core.db import UnitOfWork
from app.outbox.models import OUTBOX_STATUSES, ConsumerReceipt, OutboxMessage


async def list_messages(
    uow: UnitOfWork,
    status: str | None,
    event_type: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[OutboxMessage]:
    """Newest first (ids are UUIDv7, so by creation); `limit + 1` rows for the pager."""
    stmt = select(OutboxMessage)
    if status is not None:
        stmt = stmt.where(col(OutboxMessage.status) == status)
    if event_type is not None:
        stmt = stmt.where(col(OutboxMessage.event_type) == event_type)
    if after is not None:
        stmt = stmt.where(col(OutboxMessage.id) < after)
    stmt = stmt.order_by(col(OutboxMessage.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def get_message(
    uow: UnitOfWork, message_id: uuid.UUID, for_update: bool = False
) -> OutboxMessage | None:
    stmt = select(OutboxMessage).where(col(OutboxMessage.id) == message_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def receipts_of(uow: UnitOfWork, message_id: uuid.UUID) -> list[ConsumerReceipt]:
    stmt = (
        select(ConsumerReceipt)
        .where(col(ConsumerReceipt.message_id) == message_id)
        .order_by(col(ConsumerReceipt.processed_at), col(ConsumerReceipt.consumer))
    )
    return list((await uow.session.execute(stmt)).scalars())


@dataclass(frozen=True, slots=True)
class Stats:
    counts: dict[str, int]
    due: int
    oldest_pending_created_at: datetime | None
    oldest_due_available_at: datetime | None


async def stats(uow: UnitOfWork, now: datetime) -> Stats:
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    rows = await uow.session.execute(
        select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status))
    )
    for status, n in rows.all():
        counts[status] = int(n)
    pending = col(OutboxMessage.status) == "pending"
    due_filter = col(OutboxMessage.available_at) <= now
    row = (
        await uow.session.execute(
            select(
                func.count().filter(due_filter),
                func.min(col(OutboxMessage.created_at)),
                func.min(col(OutboxMessage.available_at)).filter(due_filter),
            ).where(pending)
        )
    ).one()
    return Stats(
        counts=counts,
        due=int(row[0] or 0),
        oldest_pending_created_at=row[1],
        oldest_due_available_at=row[2],
    )


async def purge_delivered(uow: UnitOfWork, before: datetime, limit: int) -> int:
    """Deletes up to `limit` messages delivered before `before`, with their receipts."""
    ids = (
        select(col(OutboxMessage.id))
        .where(col(OutboxMessage.status) == "delivered", col(OutboxMessage.delivered_at) < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await uow.session.execute(
        delete(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).returning(col(OutboxMessage.id))
    )
    removed = [r[0] for r in result.all()]
    if removed:
        await uow.session.execute(
            delete(ConsumerReceipt).where(col(ConsumerReceipt.message_id).in_(removed))
        )
    return len(removed)
