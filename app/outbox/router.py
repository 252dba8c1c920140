"""Outbox administration: delivery state, dead letters and their retry (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, make_page, page_of, page_params
from app.core.security import Permission, Principal
from app.outbox import service
from app.outbox.schemas import (
    OutboxMessageDetail,
    OutboxMessageOut,
    OutboxStats,
    OutboxStatus,
    ReceiptOut,
)

router = APIRouter(prefix="/v1", tags=["outbox"])
Admin = Annotated[Principal, Depends(require(Permission.outbox_manage))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.get(
    "/outbox/messages",
    operation_id="listOutboxMessages",
    summary="List outbox messages, newest first (e.g. the dead letters)",
    response_model=Page[OutboxMessageOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_outbox_messages(
    principal: Admin,
    uow: UoW,
    paging: Paging,
    status: Annotated[
        OutboxStatus | None, Query(description="Only messages in this state.")
    ] = None,
    event_type: Annotated[
        str | None, Query(max_length=64, description="e.g. ticket.created")
    ] = None,
) -> Page[OutboxMessageOut]:
    rows = await service.list_messages(uow, status, event_type, paging.after, paging.limit)
    page = make_page(rows, paging.limit)
    return page_of(OutboxMessageOut, page)


@router.get(
    "/outbox/stats",
    operation_id="getOutboxStats",
    summary="Messages per state and how far behind the drain is",
    response_model=OutboxStats,
    responses=problem_responses(401, 403),
)
async def get_outbox_stats(principal: Admin, uow: UoW) -> OutboxStats:
    return await service.stats(uow)


@router.get(
    "/outbox/messages/{message_id}",
    operation_id="getOutboxMessage",
    summary="Get an outbox message with the consumers that have handled it",
    response_model=OutboxMessageDetail,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_outbox_message(
    message_id: uuid.UUID, principal: Admin, uow: UoW
) -> OutboxMessageDetail:
    message, receipts = await service.get_with_receipts(uow, message_id)
    return OutboxMessageDetail(
        **OutboxMessageOut.model_validate(message).model_dump(),
        receipts=[ReceiptOut.model_validate(r) for r in receipts],
    )


@router.post(
    "/outbox/messages/{message_id}/retry",
    operation_id="retryOutboxMessage",
    summary="Send a dead letter back to the drain (attempts reset)",
    response_model=OutboxMessageOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def retry_outbox_message(message_id: uuid.UUID, principal: Admin, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    message = await service.retry(uow, message_id)
    return await idem.respond(OutboxMessageOut.model_validate(message), 200)
