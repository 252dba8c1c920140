"""The default callback policy (placeholder)."""

from __future__ import annotations

from app.core.db import UnitOfWork


async def ensure_callback_defaults(uow: UnitOfWork) -> None:
    return None
