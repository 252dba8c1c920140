"""Where a request or a ticket came from: one vocabulary for every domain (a ticket's
channel, the `X-Channel` header of a change, later an e-mail's or a callback's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from pydantic import WithJsonSchema

from app.core.errors import BadRequest

CHANNELS = ("phone", "email", "web", "chat", "fax", "webhook", "proactive")
# A change may also come from another system through the API itself.
ACTION_CHANNELS = (*CHANNELS, "api")


async def channel_header(
    x_channel: Annotated[
        str | None,
        # Declared as the enumeration it is; checked here (400, as other headers) rather
        # than by FastAPI's validation.
        WithJsonSchema({"type": "string", "enum": list(ACTION_CHANNELS), "default": "api"}),
        Header(description="Where the change came from (default `api`)."),
    ] = None,
) -> str:
    if x_channel is None:
        return "api"
    if x_channel not in ACTION_CHANNELS:
        raise BadRequest(f"X-Channel must be one of: {', '.join(ACTION_CHANNELS)}.")
    return x_channel


Channel = Annotated[str, Depends(channel_header)]
