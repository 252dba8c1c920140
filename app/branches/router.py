from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.access.deps import Idem, require
from app.branches import service
from app.branches.schemas import BranchCreate, BranchOut, BranchUpdate
from app.core.db import UoW
from app.core.errors import problem_responses
from app.core.etag import NOT_MODIFIED, set_etag
from app.core.pagination import CodePageParams, Page, code_page_params, page_of
from app.core.security import Permission, Principal

router = APIRouter(prefix="/v1/branches", tags=["branches"])
Reader = Annotated[Principal, Depends(require(Permission.records_read))]
Writer = Annotated[Principal, Depends(require(Permission.branches_write))]


@router.post(
    "",
    operation_id="createBranch",
    summary="Create a branch (分公司/服务网点)",
    status_code=201,
    response_model=BranchOut,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_branch(body: BranchCreate, principal: Writer, uow: UoW, idem: Idem):  # type: ignore[no-untyped-def]
    branch = await service.create(uow, body)
    return await idem.respond(
        BranchOut.model_validate(branch), 201, {"ETag": f'W/"{branch.version}"'}
    )


@router.get(
    "",
    operation_id="listBranches",
    summary="List the branches visible to the key",
    response_model=Page[BranchOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_branches(
    principal: Reader, uow: UoW, page: Annotated[CodePageParams, Depends(code_page_params)]
) -> Page[BranchOut]:
    rows = await service.list_all(uow, principal, page)
    return page_of(BranchOut, rows)


@router.get(
    "/{branch_id}",
    operation_id="getBranch",
    summary="Get a branch",
    response_model=BranchOut,
    responses=problem_responses(401, 403, 404) | NOT_MODIFIED,
)
async def get_branch(
    branch_id: uuid.UUID, principal: Reader, uow: UoW, response: Response
) -> BranchOut:
    branch = await service.get(uow, principal, branch_id)
    set_etag(response, branch.version)
    return BranchOut.model_validate(branch)


@router.patch(
    "/{branch_id}",
    operation_id="updateBranch",
    summary="Update a branch",
    response_model=BranchOut,
    responses=problem_responses(400, 401, 403, 404, 412, 422),
)
async def update_branch(
    branch_id: uuid.UUID,
    body: BranchUpdate,
    principal: Writer,
    uow: UoW,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> BranchOut:
    branch = await service.update(uow, principal, branch_id, body, if_match)
    set_etag(response, branch.version)
    return BranchOut.model_validate(branch)
