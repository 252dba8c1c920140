from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.access import service
from app.access.deps import CurrentPrincipal, Idem, require
from app.access.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, WhoAmI
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.pagination import Page, PageParams, page_of, page_params
from app.core.security import ROLE_PERMISSIONS, Permission, Principal

router = APIRouter(prefix="/v1", tags=["access"])
Admin = Annotated[Principal, Depends(require(Permission.keys_manage))]


@router.get(
    "/me",
    operation_id="getCurrentPrincipal",
    summary="Who the calling API key is, and what it may do",
    response_model=WhoAmI,
    responses=problem_responses(401),
)
async def whoami(principal: CurrentPrincipal) -> WhoAmI:
    return WhoAmI(
        id=principal.id,
        name=principal.name,
        role=principal.role,
        branch_id=principal.branch_id,
        permissions=sorted(
            p.value for p, roles in ROLE_PERMISSIONS.items() if principal.role in roles
        ),
    )


@router.post(
    "/api-keys",
    operation_id="createApiKey",
    summary="Issue an API key (the secret is shown once)",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_api_key(body: ApiKeyCreate, principal: Admin, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    key, plain = await service.create_key(uow, body.name, body.role, body.branch_id)
    out = ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=plain)
    return await idem.respond(out, 201)


@router.get(
    "/api-keys",
    operation_id="listApiKeys",
    summary="List API keys (never their secrets)",
    response_model=Page[ApiKeyOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_api_keys(
    principal: Admin, uow: UoW, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ApiKeyOut]:
    keys = await service.list_keys(uow, page)
    return page_of(ApiKeyOut, keys)


@router.post(
    "/api-keys/{key_id}/revoke",
    operation_id="revokeApiKey",
    summary="Revoke an API key",
    response_model=ApiKeyOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def revoke_api_key(key_id: uuid.UUID, principal: Admin, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    key = await service.revoke_key(uow, key_id)
    return await idem.respond(ApiKeyOut.model_validate(key), 200)
