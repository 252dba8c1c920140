"""Deliveries over HTTP: what was sent to whom and how it went (each attempt), dead
letters and their retry, the sender's backlog, and the suppression list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal
from app.mail.schemas.deliveries import (
    Address,
    DeliveryDetail,
    DeliveryOut,
    DeliveryState,
    DeliveryStats,
    RetryDeadIn,
    RetryDeadOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionRelease,
)
from app.mail.service import deliveries as service

router = APIRouter(prefix="/v1/mail", tags=["mail"])
Manager = Annotated[Principal, Depends(require(Permission.mail_manage))]
Paging = Annotated[PageParams, Depends(page_params)]
AddressQuery = Annotated[Address | None, Query(description="Exact address (any case).")]


@router.get(
    "/deliveries",
    operation_id="listMailDeliveries",
    summary="E-mail deliveries, newest first (e.g. the dead letters: state=dead)",
    response_model=Page[DeliveryOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_deliveries(
    principal: Manager,
    uow: UoW,
    page: Paging,
    state: Annotated[DeliveryState | None, Query(description="Any state when absent.")] = None,
    ticket_id: uuid.UUID | None = None,
    address: AddressQuery = None,
    event_type: Annotated[
        str | None, Query(min_length=1, max_length=64, description="e.g. ticket.created")
    ] = None,
) -> Page[DeliveryOut]:
    return await service.list_deliveries(uow, principal, page, state=state, ticket_id=ticket_id,
                                         address=address, event_type=event_type)  # fmt: skip


@router.get(
    "/deliveries/stats",
    operation_id="getMailDeliveryStats",
    summary="The sender's backlog: queued, sending, retrying and dead, what is due, the lag",
    response_model=DeliveryStats,
    responses=problem_responses(401, 403),
)
async def get_delivery_stats(principal: Manager, uow: UoW) -> DeliveryStats:
    return await service.stats(uow, principal)


@router.post(
    "/deliveries/retry-dead",
    operation_id="retryDeadMailDeliveries",
    summary="Queue the dead deliveries again (all, or those matching the filter)",
    description="At most 10,000 per call (`remaining` says how many are left). Deliveries "
    "to a suppressed address stay dead (counted in `suppressed`): release it first.",
    response_model=RetryDeadOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def retry_dead(body: RetryDeadIn, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(await service.retry_dead(uow, principal, body), 200)


@router.get(
    "/deliveries/{delivery_id}",
    operation_id="getMailDelivery",
    summary="A delivery with its rendered message and every attempt",
    response_model=DeliveryDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_delivery(delivery_id: uuid.UUID, principal: Manager, uow: UoW) -> DeliveryDetail:
    return await service.delivery_detail(uow, principal, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/retry",
    operation_id="retryMailDelivery",
    summary="Queue a dead delivery again (same Message-ID, attempts start over)",
    response_model=DeliveryOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def retry_delivery(delivery_id: uuid.UUID, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(await service.retry(uow, principal, delivery_id), 200)


@router.get(
    "/suppressions",
    operation_id="listMailSuppressions",
    summary="The suppression list: addresses that bounced hard, or were added by hand",
    description="Ordered by address. Keys of all branches only (the list is the centre's).",
    response_model=Page[SuppressionOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_suppressions(
    principal: Manager,
    uow: UoW,
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (capped by MAX_PAGE_SIZE).")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    suppressed: Annotated[
        bool | None, Query(description="true: suppressed now; false: released or counting.")
    ] = None,
    address: AddressQuery = None,
) -> Page[SuppressionOut]:
    size = (await page_params(limit=limit, cursor=None)).limit
    return await service.list_suppressions(uow, principal, limit=size, cursor=cursor,
                                           suppressed=suppressed, address=address)  # fmt: skip


@router.post(
    "/suppressions",
    operation_id="suppressMailAddress",
    summary="Put an address on the suppression list by hand (nothing more is sent to it)",
    status_code=201,
    response_model=SuppressionOut,
    responses=problem_responses(400, 401, 403, 409, 422)
    | {200: {"model": SuppressionOut, "description": "It was on the list: suppressed now."}},
)
async def suppress_address(body: SuppressionIn, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    out, created = await service.suppress(uow, principal, body)
    return await idem.respond(out, 201 if created else 200)


@router.post(
    "/suppressions/release",
    operation_id="releaseMailAddress",
    summary="Take an address off the suppression list (mail goes to it again)",
    response_model=SuppressionOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def release_address(body: SuppressionRelease, principal: Manager, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    return await idem.respond(await service.release(uow, principal, body), 200)
