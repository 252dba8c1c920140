"""The notification rules a new installation starts with (placeholder)."""

from __future__ import annotations

from app.core.db import UnitOfWork


async def ensure_mail_defaults(uow: UnitOfWork) -> None:
    return None
