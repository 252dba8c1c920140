"""Outbound webhook subscriptions: registration (the URL SSRF-checked), changes, the
secret shown once and rotated, enabling after an automatic disable, deletion.

**Rotation.** The new secret (given or generated) signs from now on; the one it replaces
keeps signing beside it for WEBHOOK_SECRET_OVERLAP_HOURS (both signatures in
`webhook-signature`), so a receiver can switch to the new secret whenever it likes in
that window. Rotating again within the window drops the older previous secret.

**Disabling.** By hand (`active: false`) or automatically (app.hooks.sender: `gone`,
`failing`): the open deliveries fail and nothing more is written for it. Enabling it
again clears the reason and the failure streak; what failed meanwhile can be sent again
with a redelivery since an instant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import UnitOfWork
from app.core.errors import NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import Page, PageParams, make_page
from app.hooks import ssrf
from app.hooks.models import WebhookSubscription
from app.hooks.repository import subscriptions as repo
from app.hooks.schemas.subscriptions import (
    RotateWebhookSecretIn,
    WebhookSubscriptionCreate,
    WebhookSubscriptionOut,
    WebhookSubscriptionUpdate,
    WebhookSubscriptionWithSecret,
)
from app.hooks.secrets import new_signing_secret, rotated


class UnsafeTarget(Unprocessable):
    slug, title = "webhook-target-refused", "The webhook target is not allowed"


async def check_url(url: str, also_allow: Sequence[str] = ()) -> str:
    """The URL as stored, once it passed the SSRF rules (app.hooks.ssrf) with
    WEBHOOK_ALLOW_NETWORKS (and `also_allow`: the demo's loopback receiver): a 422
    naming `url` and the reason otherwise."""
    settings = get_settings()
    allowed = [*settings.webhook_allow_networks, *also_allow]
    try:
        await ssrf.check(url, allowed, settings.webhook_connect_timeout_seconds)
    except (ssrf.Refused, ssrf.Unresolvable) as exc:
        raise UnsafeTarget(str(exc), field="url") from None
    return url.strip()


def out(row: WebhookSubscription) -> WebhookSubscriptionOut:
    return WebhookSubscriptionOut.of(row, get_clock().now())


def with_secret(row: WebhookSubscription) -> WebhookSubscriptionWithSecret:
    return WebhookSubscriptionWithSecret(**out(row).model_dump(), secret=row.secret)


async def create(
    uow: UnitOfWork, body: WebhookSubscriptionCreate, also_allow: Sequence[str] = ()
) -> WebhookSubscription:
    url = await check_url(body.url, also_allow)
    now = get_clock().now()
    row = WebhookSubscription(
        name=body.name,
        url=url,
        event_types=body.event_types,
        description=body.description,
        secret=body.secret or new_signing_secret(),
        created_at=now,
        updated_at=now,
    )
    await repo.add(uow, row)
    return row


async def get(
    uow: UnitOfWork, subscription_id: uuid.UUID, lock: bool = False
) -> WebhookSubscription:
    row = await repo.get(uow, subscription_id, lock=lock)
    if row is None:
        raise NotFound("Webhook subscription not found.")
    return row


async def list_page(
    uow: UnitOfWork, page: PageParams, active: bool | None
) -> Page[WebhookSubscriptionOut]:
    rows = await repo.list_page(uow, limit=page.limit, after=page.after, active=active)
    found = make_page(rows, page.limit)
    return Page[WebhookSubscriptionOut](
        items=[out(r) for r in found.items], next_cursor=found.next_cursor
    )


def _touch(row: WebhookSubscription) -> None:
    row.updated_at = get_clock().now()
    row.version += 1


async def update(
    uow: UnitOfWork,
    subscription_id: uuid.UUID,
    body: WebhookSubscriptionUpdate,
    if_match: str | None,
) -> WebhookSubscription:
    row = await get(uow, subscription_id, lock=True)
    check_if_match(if_match, row.version)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        changes["url"] = await check_url(changes["url"])
    active = changes.pop("active", None)
    for name, value in changes.items():
        setattr(row, name, value)
    if active is True and not row.active:
        _enable(row)
    elif active is False and row.active:
        row.active, row.disabled_reason, row.disabled_at = False, "manual", get_clock().now()
        await repo.fail_open_deliveries(uow, [row.id], "the subscription was disabled (manual)")
    _touch(row)
    await repo.save(uow)
    return row


def _enable(row: WebhookSubscription) -> None:
    row.active, row.disabled_reason, row.disabled_at, row.failing_since = True, None, None, None


async def enable(uow: UnitOfWork, subscription_id: uuid.UUID) -> WebhookSubscription:
    """Active again (after an automatic or manual disable; a no-op when it is active)."""
    row = await get(uow, subscription_id, lock=True)
    if not row.active:
        _enable(row)
        _touch(row)
        await repo.save(uow)
    return row


async def rotate_secret(
    uow: UnitOfWork, subscription_id: uuid.UUID, body: RotateWebhookSecretIn
) -> WebhookSubscription:
    row = await get(uow, subscription_id, lock=True)
    now = get_clock().now()
    overlap = timedelta(hours=get_settings().webhook_secret_overlap_hours)
    row.previous_secret, row.previous_expires_at = rotated(row.secret, now, overlap)
    row.secret = body.secret or new_signing_secret()
    _touch(row)
    await repo.save(uow)
    return row


async def delete(uow: UnitOfWork, subscription_id: uuid.UUID) -> None:
    """Gone with its deliveries and their log."""
    await get(uow, subscription_id, lock=True)
    await repo.remove(uow, subscription_id)
