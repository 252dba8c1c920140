"""The queries of branches; lists are scoped to the principal's branch."""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from app.branches.models import Branch
from app.core.db import UnitOfWork
from app.core.pagination import CodePageParams
from app.core.security import Principal


async def flush(uow: UnitOfWork) -> None:
    """Writes the pending changes."""
    await uow.session.flush()


def add(uow: UnitOfWork, branch: Branch) -> None:
    uow.session.add(branch)


async def code_taken(uow: UnitOfWork, code: str) -> bool:
    stmt = select(col(Branch.id)).where(Branch.code == code)
    return (await uow.session.execute(stmt)).first() is not None


async def get(uow: UnitOfWork, branch_id: uuid.UUID) -> Branch | None:
    """The branch by id, whoever asks (the caller checks what the principal sees)."""
    return await uow.session.get(Branch, branch_id)


async def list_page(uow: UnitOfWork, principal: Principal, page: CodePageParams) -> list[Branch]:
    """The branches the principal sees, ordered by code, one more than the page's limit
    (to tell whether a next page exists)."""
    stmt = principal.scope(select(Branch), Branch.id)
    if page.after is not None:
        stmt = stmt.where(col(Branch.code) > page.after)
    stmt = stmt.order_by(col(Branch.code)).limit(page.limit + 1)
    return list((await uow.session.execute(stmt)).scalars())
