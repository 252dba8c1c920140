"""Callbacks over HTTP: the queue of due calls (per agent, and the caller's own), one
callback with its calls, reassigning and rescheduling it, and each call's outcome."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from app.access.deps import Idem, require
from app.callbacks.schemas.callbacks import (
    CallbackAttemptIn,
    CallbackDetail,
    CallbackOut,
    CallbackUpdate,
)
from app.callbacks.schemas.instants import Instant
from app.callbacks.service import callbacks as service
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.pagination import CodePageParams, Page, code_page_params
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1", tags=["callbacks"])
Worker = Annotated[Principal, Depends(require(Permission.callbacks_work))]
Paging = Annotated[CodePageParams, Depends(code_page_params)]
IfMatch = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when the callback changed.")
]


def _tag(out: CallbackOut) -> tuple[int, str]:
    """The ETag's version and variant: `max_attempts` (the customer's policy) and `overdue`
    (the clock) change the answer without a new version of the row, so they are the
    variant, and a copy cached with If-None-Match is not kept past them (If-Match reads
    the version only)."""
    return out.version, f"{out.max_attempts}{'o' if out.overdue else ''}"


DueBefore = Annotated[Instant | None, Query(description="Only callbacks due before this instant.")]
State = Annotated[
    Literal["open", "done", "cancelled"] | None, Query(description="Any state when absent.")
]


@router.get(
    "/callbacks",
    operation_id="listCallbacks",
    summary="Callbacks visible to the key, soonest due first (an agent's queue with agent_id)",
    response_model=Page[CallbackOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_callbacks(
    principal: Worker,
    uow: UoW,
    page: Paging,
    agent_id: uuid.UUID | None = None,
    unassigned: Annotated[
        bool | None, Query(description="true: only callbacks nobody is given; false: the others.")
    ] = None,
    due_before: DueBefore = None,
    state: State = None,
    reason: Literal["resolution", "plan"] | None = None,
    overdue: Annotated[
        bool | None, Query(description="true: open past the due time and the grace.")
    ] = None,
    ticket_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
) -> Page[CallbackOut]:
    f = service.QueueFilter(agent_id=agent_id, unassigned=unassigned, state=state, reason=reason,
                    due_before=due_before, ticket_id=ticket_id, customer_id=customer_id,
                    plan_id=plan_id, overdue=overdue)  # fmt: skip
    return await service.queue(uow, principal, f, page)


@router.get(
    "/me/callbacks",
    operation_id="listMyCallbacks",
    summary="The caller's open callbacks, soonest due first (what to call next)",
    response_model=Page[CallbackOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_my_callbacks(
    principal: Worker, uow: UoW, page: Paging, due_before: DueBefore = None
) -> Page[CallbackOut]:
    f = service.QueueFilter(agent_id=principal.id, state="open", due_before=due_before)
    return await service.queue(uow, principal, f, page)


@router.get(
    "/callbacks/{callback_id}",
    operation_id="getCallback",
    summary="Get a callback with the calls made",
    response_model=CallbackDetail,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_callback(
    callback_id: uuid.UUID, principal: Worker, uow: UoW, response: Response
) -> CallbackDetail:
    out = await service.view(uow, principal, callback_id)
    set_etag(response, *_tag(out))
    return out


@router.patch(
    "/callbacks/{callback_id}",
    operation_id="updateCallback",
    summary="Reassign or reschedule an open callback",
    response_model=CallbackDetail,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422),
)
async def update_callback(
    callback_id: uuid.UUID,
    body: CallbackUpdate,
    principal: Worker,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> CallbackDetail:
    out = await service.update(uow, principal, callback_id, body, if_match)
    set_etag(response, *_tag(out))
    return out


@router.post(
    "/callbacks/{callback_id}/attempts",
    operation_id="recordCallbackAttempt",
    summary="Record a call and its outcome: satisfied closes the ticket, not solved "
    "reopens it, no answer tries again later",
    status_code=201,
    response_model=CallbackDetail,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def record_callback_attempt(  # type: ignore[no-untyped-def]
    callback_id: uuid.UUID, body: CallbackAttemptIn, principal: Worker, uow: UoW, idem: Idem
):
    out = await service.record_attempt(uow, principal, callback_id, body)
    return await idem.respond(out, 201, {"ETag": etag_for(*_tag(out))})
