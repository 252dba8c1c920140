from __future__ import annotations

import uuid

from app.branches import repository as repo
from app.branches.models import Branch
from app.branches.schemas import BranchCreate, BranchUpdate
from app.core.clock import get_clock
from app.core.db import UnitOfWork
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.etag import check_if_match
from app.core.pagination import CodePageParams, Page, make_page
from app.core.security import Principal


async def create(uow: UnitOfWork, data: BranchCreate) -> Branch:
    if await repo.code_taken(uow, data.code):
        raise Conflict(f"A branch with code '{data.code}' exists.", field="code")
    if data.parent_id and await repo.get(uow, data.parent_id) is None:
        raise Unprocessable("parent_id does not name a branch.", field="parent_id")
    branch = Branch(**data.model_dump())
    repo.add(uow, branch)
    await repo.flush(uow)
    return branch


async def get(uow: UnitOfWork, principal: Principal, branch_id: uuid.UUID) -> Branch:
    branch = await repo.get(uow, branch_id)
    if branch is None or not principal.sees_branch(branch.id):
        raise NotFound("Branch not found.")
    return branch


async def list_all(uow: UnitOfWork, principal: Principal, page: CodePageParams) -> Page[Branch]:
    rows = await repo.list_page(uow, principal, page)
    return make_page(rows, page.limit, key="code")


async def update(
    uow: UnitOfWork,
    principal: Principal,
    branch_id: uuid.UUID,
    data: BranchUpdate,
    if_match: str | None,
) -> Branch:
    branch = await get(uow, principal, branch_id)
    check_if_match(if_match, branch.version)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None and field in {"name", "timezone"}:
            raise Unprocessable(f"{field} cannot be null.", field=field)
        setattr(branch, field, value)
    branch.version += 1
    branch.updated_at = get_clock().now()
    await repo.flush(uow)
    return branch
