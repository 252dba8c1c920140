"""Housekeeping jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.clock import get_clock
from app.core.config import get_settings
from app.core.db import open_uow
from app.core.idempotency import purge_expired


async def purge_idempotency_keys(ctx: dict[str, Any]) -> int:
    cutoff = get_clock().now() - timedelta(hours=get_settings().idempotency_ttl_hours)
    removed = 0
    async with open_uow() as uow:
        removed = await purge_expired(uow, cutoff)
    return removed
