"""ARQ jobs of e-mail (placeholder)."""

from __future__ import annotations

from typing import Any


async def send_mail(ctx: dict[str, Any]) -> int:
    return 0


async def send_digests(ctx: dict[str, Any]) -> int:
    return 0
