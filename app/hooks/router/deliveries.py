"""The outbound webhooks' delivery log over HTTP, and redelivery of one delivery."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.hooks.schemas.deliveries import (
    WebhookDeliveryDetail,
    WebhookDeliveryOut,
    WebhookDeliveryState,
)
from app.hooks.service import deliveries as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Principal, Depends(require(Permission.hooks_manage))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="A subscription's deliveries, newest first (e.g. state=failed)",
    response_model=Page[WebhookDeliveryOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    principal: Manager,
    uow: UoW,
    page: Paging,
    state: Annotated[
        WebhookDeliveryState | None, Query(description="Any state when absent.")
    ] = None,
) -> Page[WebhookDeliveryOut]:
    return await service.list_page(uow, subscription_id, page, state)


@router.get(
    "/deliveries/{delivery_id}",
    operation_id="getWebhookDelivery",
    summary="A delivery with its body and every attempt (status, timing, first bytes)",
    response_model=WebhookDeliveryDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_delivery(
    delivery_id: uuid.UUID, principal: Manager, uow: UoW
) -> WebhookDeliveryDetail:
    return await service.detail(uow, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    operation_id="redeliverWebhookDelivery",
    summary="Queue a delivery again (same body and webhook-id, a fresh schedule)",
    response_model=WebhookDeliveryOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def redeliver(delivery_id: uuid.UUID, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(await service.redeliver(uow, delivery_id), 200)
