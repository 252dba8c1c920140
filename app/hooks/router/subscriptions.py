"""Outbound webhook subscriptions over HTTP (tag `webhooks`, permission hooks:manage)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.hooks.schemas.subscriptions import (
    RotateWebhookSecretIn,
    WebhookRedeliverSinceIn,
    WebhookRedeliverSinceOut,
    WebhookSubscriptionCreate,
    WebhookSubscriptionOut,
    WebhookSubscriptionUpdate,
    WebhookSubscriptionWithSecret,
)
from app.hooks.service import deliveries as delivery_service
from app.hooks.service import subscriptions as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Principal, Depends(require(Permission.hooks_manage))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/subscriptions",
    operation_id="createWebhookSubscription",
    summary="Subscribe a URL to events (its signing secret is answered once)",
    description="The URL is checked against SSRF now and at every send: it must resolve to "
    "global addresses only (422 naming `url` and the reason otherwise).",
    status_code=201,
    response_model=WebhookSubscriptionWithSecret,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_subscription(  # type: ignore[no-untyped-def]
    body: WebhookSubscriptionCreate, principal: Manager, uow: UoW, idem: Idem
):
    # An Idempotency-Key's stored answer holds the secret, which the subscription's row
    # holds in clear anyway (every delivery is signed with it); a source's create takes
    # none, since a source keeps only its token's digest.
    row = await service.create(uow, body)
    return await idem.respond(service.with_secret(row), 201, {"ETag": etag_for(row.version)})


@router.get(
    "/subscriptions",
    operation_id="listWebhookSubscriptions",
    summary="List webhook subscriptions, newest first",
    response_model=Page[WebhookSubscriptionOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_subscriptions(
    principal: Manager,
    uow: UoW,
    page: Paging,
    active: Annotated[bool | None, Query(description="Only active (or disabled) ones.")] = None,
) -> Page[WebhookSubscriptionOut]:
    return await service.list_page(uow, page, active)


@router.get(
    "/subscriptions/{subscription_id}",
    operation_id="getWebhookSubscription",
    summary="Get a webhook subscription",
    response_model=WebhookSubscriptionOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_subscription(
    subscription_id: uuid.UUID, principal: Manager, uow: UoW, response: Response
) -> WebhookSubscriptionOut:
    row = await service.get(uow, subscription_id)
    set_etag(response, row.version)
    return service.out(row)


@router.patch(
    "/subscriptions/{subscription_id}",
    operation_id="updateWebhookSubscription",
    summary="Change a webhook subscription (`active: false` pauses it)",
    response_model=WebhookSubscriptionOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_subscription(
    subscription_id: uuid.UUID,
    body: WebhookSubscriptionUpdate,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookSubscriptionOut:
    row = await service.update(uow, subscription_id, body, if_match)
    set_etag(response, row.version)
    return service.out(row)


@router.delete(
    "/subscriptions/{subscription_id}",
    operation_id="deleteWebhookSubscription",
    summary="Delete a webhook subscription with its deliveries and their log",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_subscription(subscription_id: uuid.UUID, principal: Manager, uow: UoW) -> Response:
    await service.delete(uow, subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    operation_id="rotateWebhookSubscriptionSecret",
    summary="A new signing secret (answered once); the old one signs too for a while",
    description="For WEBHOOK_SECRET_OVERLAP_HOURS after the rotation every delivery carries "
    "two signatures in `webhook-signature`, one per secret.",
    response_model=WebhookSubscriptionWithSecret,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def rotate_secret(  # type: ignore[no-untyped-def]
    subscription_id: uuid.UUID,
    body: RotateWebhookSecretIn,
    principal: Manager,
    uow: UoW,
    idem: Idem,
):
    row = await service.rotate_secret(uow, subscription_id, body)
    return await idem.respond(service.with_secret(row), 200, {"ETag": etag_for(row.version)})


@router.post(
    "/subscriptions/{subscription_id}/enable",
    operation_id="enableWebhookSubscription",
    summary="Enable a subscription again (after an automatic or manual disable)",
    response_model=WebhookSubscriptionOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def enable_subscription(  # type: ignore[no-untyped-def]
    subscription_id: uuid.UUID, principal: Manager, uow: UoW, idem: Idem
):
    row = await service.enable(uow, subscription_id)
    return await idem.respond(service.out(row), 200, {"ETag": etag_for(row.version)})


@router.post(
    "/subscriptions/{subscription_id}/redeliver",
    operation_id="redeliverWebhookEvents",
    summary="Queue again every delivery of the subscription created since an instant",
    response_model=WebhookRedeliverSinceOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def redeliver_since(  # type: ignore[no-untyped-def]
    subscription_id: uuid.UUID,
    body: WebhookRedeliverSinceIn,
    principal: Manager,
    uow: UoW,
    idem: Idem,
):
    count = await delivery_service.redeliver_since(uow, subscription_id, body.since)
    return await idem.respond(WebhookRedeliverSinceOut(redelivered=count), 200)
