"""Inbound webhook sources over HTTP (admins): configuration, secret rotation, the
request log and the alerts followed."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.access.deps import require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import Page, PageParams, page_of, page_params
from app.core.security import Permission, Principal
from app.hooks.schemas.sources import (
    AlertState,
    HookAlertOut,
    HookRequestOut,
    HookSourceCreate,
    HookSourceOut,
    HookSourceUpdate,
    HookSourceWithSecret,
    Outcome,
    RotateSecret,
)
from app.hooks.service import sources as service

router = APIRouter(prefix="/v1/hooks", tags=["hooks"])
Manager = Annotated[Principal, Depends(require(Permission.hooks_manage))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/sources",
    operation_id="createHookSource",
    summary="Create an inbound webhook source (its secret is shown once)",
    status_code=201,
    response_model=HookSourceWithSecret,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_hook_source(
    body: HookSourceCreate, principal: Manager, uow: UoW, response: Response
) -> HookSourceWithSecret:
    out = await service.create(uow, body)
    set_etag(response, out.version)
    return out


@router.get(
    "/sources",
    operation_id="listHookSources",
    summary="List inbound webhook sources, newest first",
    response_model=Page[HookSourceOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_hook_sources(
    principal: Manager,
    uow: UoW,
    page: Paging,
    active: Annotated[bool | None, Query(description="Only active (or inactive) ones.")] = None,
) -> Page[HookSourceOut]:
    result = await service.list_sources(uow, page, active)
    return Page[HookSourceOut](
        items=[service.source_out(r) for r in result.items], next_cursor=result.next_cursor
    )


@router.get(
    "/sources/{source_id}",
    operation_id="getHookSource",
    summary="Get an inbound webhook source",
    response_model=HookSourceOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_hook_source(
    source_id: uuid.UUID, principal: Manager, uow: UoW, response: Response
) -> HookSourceOut:
    row = await service.get(uow, source_id)
    set_etag(response, row.version)
    return service.source_out(row)


@router.patch(
    "/sources/{source_id}",
    operation_id="updateHookSource",
    summary="Update or deactivate an inbound webhook source",
    response_model=HookSourceOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_hook_source(
    source_id: uuid.UUID,
    body: HookSourceUpdate,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> HookSourceOut:
    row = await service.update(uow, source_id, body, if_match)
    set_etag(response, row.version)
    return service.source_out(row)


@router.delete(
    "/sources/{source_id}",
    operation_id="deleteHookSource",
    summary="Delete an inbound webhook source with its log (its tickets stay)",
    status_code=204,
    response_class=Response,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def delete_hook_source(
    source_id: uuid.UUID, principal: Manager, uow: UoW, if_match: IfMatch = None
) -> Response:
    await service.delete(uow, source_id, if_match)
    return Response(status_code=204)


@router.post(
    "/sources/{source_id}/rotate-secret",
    operation_id="rotateHookSourceSecret",
    summary="Rotate a source's secret: the new one shown once, the old one accepted for "
    "WEBHOOK_SECRET_OVERLAP_HOURS",
    response_model=HookSourceWithSecret,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def rotate_hook_source_secret(
    source_id: uuid.UUID,
    body: RotateSecret,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> HookSourceWithSecret:
    out = await service.rotate(uow, source_id, body.secret, if_match)
    set_etag(response, out.version)
    return out


@router.get(
    "/sources/{source_id}/requests",
    operation_id="listHookRequests",
    summary="A source's request log, newest first, with what became of each alert",
    response_model=Page[HookRequestOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_hook_requests(
    source_id: uuid.UUID,
    principal: Manager,
    uow: UoW,
    page: Paging,
    outcome: Annotated[Outcome | None, Query(description="Any outcome when absent.")] = None,
) -> Page[HookRequestOut]:
    return page_of(HookRequestOut, await service.list_requests(uow, source_id, page, outcome))


@router.get(
    "/sources/{source_id}/alerts",
    operation_id="listHookAlerts",
    summary="A source's alerts by fingerprint, newest first, with their tickets",
    response_model=Page[HookAlertOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_hook_alerts(
    source_id: uuid.UUID,
    principal: Manager,
    uow: UoW,
    page: Paging,
    state: Annotated[AlertState | None, Query(description="Any state when absent.")] = None,
    fingerprint: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[HookAlertOut]:
    result = await service.list_alerts(uow, source_id, page, state, fingerprint)
    return page_of(HookAlertOut, result)
