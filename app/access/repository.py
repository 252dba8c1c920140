"""The queries of API keys. The access domain sits below every other (their routers
depend on its authentication), so it names other domains' tables in SQL only and
imports none of their packages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from app.access.models import ApiKey
from app.core.db import UnitOfWork, sessionmaker
from app.core.pagination import PageParams


async def flush(uow: UnitOfWork) -> None:
    """Writes the pending changes."""
    await uow.session.flush()


def add(uow: UnitOfWork, key: ApiKey) -> None:
    uow.session.add(key)


async def branch_exists(uow: UnitOfWork, branch_id: uuid.UUID) -> bool:
    """Whether a branch has this id (the foreign key of api_keys.branch_id backs it up)."""
    found = await uow.session.execute(
        text("SELECT 1 FROM branches WHERE id = :b"), {"b": branch_id}
    )
    return found.first() is not None


async def get(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey | None:
    return await uow.session.get(ApiKey, key_id)


async def list_page(uow: UnitOfWork, page: PageParams) -> list[ApiKey]:
    """Oldest first (ids are time-ordered), one more than the page's limit (to tell
    whether a next page exists)."""
    stmt = select(ApiKey)
    if page.after is not None:
        stmt = stmt.where(col(ApiKey.id) > page.after)
    rows = await uow.session.execute(stmt.order_by(col(ApiKey.id)).limit(page.limit + 1))
    return list(rows.scalars())


async def active_by_hash(digest: str) -> Any | None:
    """(id, name, role, branch_id) of the active key with this hash, on a session of its
    own (authentication runs before, and apart from, the request's unit of work)."""
    async with sessionmaker()() as session:
        return (
            await session.execute(
                select(
                    col(ApiKey.id), col(ApiKey.name), col(ApiKey.role), col(ApiKey.branch_id)
                ).where(
                    ApiKey.key_hash == digest,
                    ApiKey.active.is_(True),  # type: ignore[attr-defined]
                )
            )
        ).first()
