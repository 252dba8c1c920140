"""The delivery log over the API, and redeliveries: one delivery, or every delivery of a
subscription created since an instant, queued again as `pending`, due now, with a fresh
schedule (the attempts before stay in the log; the body and `webhook-id` are the same, so
the receiver can tell a redelivery from a new event). A send pass is woken once the
redelivery commits.

A delivery an attempt holds right now (`sending`, its lease running) is not redelivered
(a 409 for one; skipped in a bulk redelivery): it would go out twice at once. Nor are the
deliveries of a disabled subscription: enable it first (409)."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound
from app.core.pagination import Page, PageParams, make_page, page_of
from app.hooks import jobs
from app.hooks.repository import deliveries as repo
from app.hooks.schemas.deliveries import (
    WebhookAttemptOut,
    WebhookDeliveryDetail,
    WebhookDeliveryOut,
)
from app.hooks.service import subscriptions


async def list_page(
    uow: UnitOfWork, subscription_id: uuid.UUID, page: PageParams, state: str | None
) -> Page[WebhookDeliveryOut]:
    await subscriptions.get(uow, subscription_id)
    rows = await repo.list_page(
        uow, subscription_id, limit=page.limit, after=page.after, state=state
    )
    return page_of(WebhookDeliveryOut, make_page(rows, page.limit))


async def detail(uow: UnitOfWork, delivery_id: uuid.UUID) -> WebhookDeliveryDetail:
    row = await repo.get(uow, delivery_id)
    if row is None:
        raise NotFound("Webhook delivery not found.")
    history = [WebhookAttemptOut.model_validate(a) for a in await repo.attempts_of(uow, row.id)]
    return WebhookDeliveryDetail(**WebhookDeliveryOut.model_validate(row).model_dump(), body=row.body,
                          history=history)  # fmt: skip


class SubscriptionDisabled(Conflict):
    slug, title = "webhook-subscription-disabled", "The webhook subscription is disabled"


async def _active(uow: UnitOfWork, subscription_id: uuid.UUID) -> None:
    sub = await subscriptions.get(uow, subscription_id)
    if not sub.active:
        raise SubscriptionDisabled(
            "The subscription is disabled: enable it first.",
            disabled_reason=sub.disabled_reason,
        )


async def redeliver(uow: UnitOfWork, delivery_id: uuid.UUID) -> WebhookDeliveryOut:
    row = await repo.get(uow, delivery_id, lock=True)
    if row is None:
        raise NotFound("Webhook delivery not found.")
    await _active(uow, row.subscription_id)
    now = get_clock().now()
    if row.state == "sending" and row.lease_until is not None and row.lease_until > now:
        raise Conflict(
            "An attempt of this delivery is in progress; redeliver it once that ends "
            f"(at the latest {row.lease_until.isoformat()}).",
            state=row.state,
        )
    repo.requeue(row, now)
    await uow.session.flush()
    jobs.wake_after_commit(uow)
    return WebhookDeliveryOut.model_validate(row)


async def redeliver_since(uow: UnitOfWork, subscription_id: uuid.UUID, since: datetime) -> int:
    await _active(uow, subscription_id)
    count = await repo.requeue_since(uow, subscription_id, since, get_clock().now())
    if count:
        jobs.wake_after_commit(uow)
    return count
