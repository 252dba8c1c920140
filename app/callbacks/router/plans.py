"""Contact plans over HTTP: periodic proactive calls to key customers (定期主动式电话支持),
set by management, read by whoever makes the calls."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.access.deps import Idem, require
from app.callbacks.schemas.plans import ContactPlanCreate, ContactPlanOut, ContactPlanUpdate
from app.callbacks.service import plans as service
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, etag_for, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1", tags=["callbacks"])
Worker = Annotated[Principal, Depends(require(Permission.callbacks_work))]
Manager = Annotated[Principal, Depends(require(Permission.callbacks_manage))]
Paging = Annotated[PageParams, Depends(page_params)]
IfMatch = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when the plan changed.")
]


@router.post(
    "/contact-plans",
    operation_id="createContactPlan",
    summary="Plan periodic calls to a key customer (every N weeks)",
    status_code=201,
    response_model=ContactPlanOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_contact_plan(  # type: ignore[no-untyped-def]
    body: ContactPlanCreate, principal: Manager, uow: UoW, idem: Idem
):
    out = await service.create(uow, principal, body)
    return await idem.respond(out, 201, {"ETag": etag_for(out.version)})


@router.get(
    "/contact-plans",
    operation_id="listContactPlans",
    summary="Contact plans visible to the key, newest first",
    response_model=Page[ContactPlanOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_contact_plans(
    principal: Worker,
    uow: UoW,
    page: Paging,
    customer_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> Page[ContactPlanOut]:
    return await service.list_plans(uow, principal, page, customer_id=customer_id,
                                    agent_id=agent_id, active=active)  # fmt: skip


@router.get(
    "/contact-plans/{plan_id}",
    operation_id="getContactPlan",
    summary="Get a contact plan",
    response_model=ContactPlanOut,
    responses=problem_responses(401, 403, 404, 422) | NOT_MODIFIED,
)
async def get_contact_plan(
    plan_id: uuid.UUID, principal: Worker, uow: UoW, response: Response
) -> ContactPlanOut:
    out = await service.view(uow, principal, plan_id)
    set_etag(response, out.version)
    return out


@router.patch(
    "/contact-plans/{plan_id}",
    operation_id="updateContactPlan",
    summary="Change a contact plan: its agent, contact, period, next call; pause it",
    response_model=ContactPlanOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_contact_plan(
    plan_id: uuid.UUID,
    body: ContactPlanUpdate,
    principal: Manager,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ContactPlanOut:
    out = await service.update(uow, principal, plan_id, body, if_match)
    set_etag(response, out.version)
    return out
