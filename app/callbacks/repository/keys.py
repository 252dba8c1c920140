"""The identity behind an agent id (an API key row): whether it is active, its branch
and its role. Read by SQL of its own, as other domains read owners (no import of the
access package's tables)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from app.core.db import UnitOfWork


@dataclass(frozen=True, slots=True)
class Identity:
    id: uuid.UUID
    active: bool
    branch_id: uuid.UUID | None
    role: str


async def identity(uow: UnitOfWork, key_id: uuid.UUID) -> Identity | None:
    row = (
        await uow.session.execute(
            text("SELECT id, active, branch_id, role FROM api_keys WHERE id = :id"), {"id": key_id}
        )
    ).first()
    return Identity(row[0], bool(row[1]), row[2], str(row[3])) if row else None
