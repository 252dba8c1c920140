"""SLA policies HTTP: one policy per service level, read by all, kept by managers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.access.deps import Idem, require
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.etag import IfMatchStale as IfMatch
from app.core.pagination import CodePageParams, Page, code_page_params
from app.core.security import Permission, Principal
from app.sla import policies
from app.sla.schemas import SlaPolicyCreate, SlaPolicyOut, SlaPolicyUpdate

router = APIRouter(prefix="/v1", tags=["sla"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.catalogue_write))]
Level = Annotated[str, Path(max_length=32, description="The service level's code.")]


@router.get(
    "/sla-policies",
    operation_id="listSlaPolicies",
    summary="List SLA policies with their targets",
    response_model=Page[SlaPolicyOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_policies(
    principal: Reader, uow: UoW, page: Annotated[CodePageParams, Depends(code_page_params)]
) -> Page[SlaPolicyOut]:
    return await policies.list_page(uow, page)


@router.get(
    "/sla-policies/{service_level}",
    operation_id="getSlaPolicy",
    summary="Get the SLA policy of a service level",
    response_model=SlaPolicyOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_policy(
    service_level: Level, principal: Reader, uow: UoW, response: Response
) -> SlaPolicyOut:
    policy = await policies.get(uow, service_level)
    set_etag(response, policy.version)
    return (await policies.out(uow, [policy]))[0]


@router.post(
    "/sla-policies",
    operation_id="createSlaPolicy",
    summary="Create the SLA policy of a service level",
    status_code=201,
    response_model=SlaPolicyOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_policy(body: SlaPolicyCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    policy = await policies.create(uow, body)
    out = (await policies.out(uow, [policy]))[0]
    return await idem.respond(out, 201, {"ETag": etag_for(policy.version)})


@router.patch(
    "/sla-policies/{service_level}",
    operation_id="updateSlaPolicy",
    summary="Change a policy; `targets` replaces all its targets",
    response_model=SlaPolicyOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_policy(
    service_level: Level,
    body: SlaPolicyUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> SlaPolicyOut:
    policy = await policies.update(uow, service_level, body, if_match)
    set_etag(response, policy.version)
    return (await policies.out(uow, [policy]))[0]
