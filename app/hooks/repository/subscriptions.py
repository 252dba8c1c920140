"""Webhook subscriptions' SQL: the CRUD of the API, the cheap read of the active ones
that the outbox consumer makes for every batch, and the automatic disable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from app.core.db import UnitOfWork
from app.hooks.models import OPEN_DELIVERY_STATES, WebhookDelivery, WebhookSubscription


async def add(uow: UnitOfWork, subscription: WebhookSubscription) -> None:
    uow.session.add(subscription)
    await uow.session.flush()


async def save(uow: UnitOfWork) -> None:
    await uow.session.flush()


async def get(
    uow: UnitOfWork, subscription_id: uuid.UUID, lock: bool = False
) -> WebhookSubscription | None:
    stmt = select(WebhookSubscription).where(col(WebhookSubscription.id) == subscription_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def list_page(
    uow: UnitOfWork, *, limit: int, after: uuid.UUID | None, active: bool | None
) -> list[WebhookSubscription]:
    """Newest first (keyset on the UUIDv7 id), `limit + 1` rows."""
    stmt: Any = select(WebhookSubscription)
    if active is not None:
        stmt = stmt.where(col(WebhookSubscription.active) == active)
    if after is not None:
        stmt = stmt.where(col(WebhookSubscription.id) < after)
    stmt = stmt.order_by(col(WebhookSubscription.id).desc()).limit(limit + 1)
    return list((await uow.session.execute(stmt)).scalars())


async def remove(uow: UnitOfWork, subscription_id: uuid.UUID) -> None:
    """Deletes it with its deliveries and their attempts (ON DELETE CASCADE)."""
    await uow.session.execute(
        delete(WebhookSubscription).where(col(WebhookSubscription.id) == subscription_id)
    )


async def active_patterns(uow: UnitOfWork) -> list[tuple[uuid.UUID, list[str]]]:
    """(id, event_types) of every active subscription: one small read per drain batch
    (there are tens of subscriptions, not thousands), so a new or changed subscription
    counts from the next batch on, in every worker, with no cache to go stale."""
    stmt = select(col(WebhookSubscription.id), col(WebhookSubscription.event_types)).where(
        col(WebhookSubscription.active)
    )
    return [(r[0], list(r[1])) for r in (await uow.session.execute(stmt)).all()]


async def fail_open_deliveries(
    uow: UnitOfWork, subscription_ids: list[uuid.UUID], reason: str
) -> int:
    """The open deliveries that no attempt holds (`pending`, `retrying`) of these
    subscriptions become `failed`; one in flight is failed by the next claim."""
    if not subscription_ids:
        return 0
    stmt = (
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id).in_(subscription_ids),
            col(WebhookDelivery.state).in_([s for s in OPEN_DELIVERY_STATES if s != "sending"]),
        )
        .values(state="failed", last_error=reason[:2000], lease_until=None)
    )
    return int((await uow.session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]


async def disable(
    uow: UnitOfWork, subscription_ids: list[uuid.UUID], reason: str, now: datetime
) -> list[WebhookSubscription]:
    """Disables those still active (with `reason`); returns the ones it disabled."""
    if not subscription_ids:
        return []
    stmt = (
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id).in_(subscription_ids), col(WebhookSubscription.active))
        .values(
            active=False,
            disabled_reason=reason,
            disabled_at=now,
            updated_at=now,
            version=col(WebhookSubscription.version) + 1,
        )
        .returning(WebhookSubscription)
        .execution_options(synchronize_session=False)
    )
    return list((await uow.session.execute(stmt)).scalars())


async def mark_succeeded(uow: UnitOfWork, subscription_ids: list[uuid.UUID]) -> None:
    if subscription_ids:
        await uow.session.execute(
            update(WebhookSubscription)
            .where(
                col(WebhookSubscription.id).in_(subscription_ids),
                col(WebhookSubscription.failing_since).is_not(None),
            )
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )


async def mark_failing(
    uow: UnitOfWork, since: dict[uuid.UUID, datetime]
) -> list[tuple[uuid.UUID, datetime]]:
    """Sets `failing_since` where it is not set yet (to the first failed attempt's
    start); returns (id, failing_since) of these subscriptions that are still active."""
    out: list[tuple[uuid.UUID, datetime]] = []
    for subscription_id, at in since.items():
        stmt = (
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription_id, col(WebhookSubscription.active))
            .values(failing_since=func.coalesce(col(WebhookSubscription.failing_since), at))
            .returning(col(WebhookSubscription.id), col(WebhookSubscription.failing_since))
            .execution_options(synchronize_session=False)
        )
        row = (await uow.session.execute(stmt)).first()
        if row is not None:
            out.append((row[0], row[1]))
    return out
