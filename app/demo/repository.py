"""The demo loader's own queries: the run lock, the marker and the lookups of domains
without a repository of their own (branches by code)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlmodel import col

from app.core.db import UnitOfWork

# Any constant works: it only serialises concurrent `supportline demo` runs.
ADVISORY_LOCK = 0x5D_E40


async def lock_run(uow: UnitOfWork) -> None:
    """Waits for any other demo load to commit or roll back (released with the transaction)."""
    await uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})


async def key_named(uow: UnitOfWork, name: str) -> bool:
    """Whether an API key named `name` exists (the marker of a loaded demo)."""
    from app.access.models import ApiKey

    row = await uow.session.execute(select(col(ApiKey.id)).where(col(ApiKey.name) == name).limit(1))
    return row.first() is not None


async def branch_id_by_code(uow: UnitOfWork, code: str) -> uuid.UUID | None:
    from app.branches.models import Branch

    found = await uow.session.execute(select(col(Branch.id)).where(col(Branch.code) == code))
    return found.scalar_one_or_none()


async def team_id_by_code(uow: UnitOfWork, branch_id: uuid.UUID, code: str) -> uuid.UUID | None:
    from app.people.models import Team

    found = await uow.session.execute(
        select(col(Team.id)).where(col(Team.branch_id) == branch_id, col(Team.code) == code)
    )
    return found.scalar_one_or_none()
