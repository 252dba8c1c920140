"""PLACEHOLDER (helper B): the ARQ job that sends due webhook deliveries."""

from __future__ import annotations

from typing import Any


async def send_webhooks(ctx: dict[str, Any]) -> int:
    return 0
