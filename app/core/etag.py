"""ETags from row versions; If-Match on writes answers 412 when stale; If-None-Match on
reads answers 304 when the client's copy is current.

The 304 is decided at one place, `ConditionalReadMiddleware`, from what the read
answered: any GET that answers 200 with an ETag (whichever handler set it, however) gets
conditional reads, and a new read that sets an ETag gets them without a line of its own.
Its operation declares the 304 in the spec with `NOT_MODIFIED` (a test calls every GET
and checks the two agree). The handler still runs: the 304 saves the client the body
and its parsing, not the server its query (the version is in the row the body is built
from).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import BadRequest, PreconditionFailed


def etag_for(version: int, variant: str = "") -> str:
    """`variant` marks a representation that changed without a new row version (a
    ticket's SLA part); If-Match reads only the version before the dot."""
    return f'W/"{version}.{variant}"' if variant else f'W/"{version}"'


def parse_if_match(value: str | None) -> list[int] | None:
    """None means "no precondition"; ["*"] is accepted as any version."""
    if value is None or value.strip() == "*":
        return None
    versions: list[int] = []
    for part in value.split(","):
        tag = part.strip().removeprefix("W/").strip('"').split(".", 1)[0]
        try:
            versions.append(int(tag))
        except ValueError as exc:
            raise BadRequest("If-Match must carry an ETag returned by this API.") from exc
    return versions


def check_if_match(if_match: str | None, current_version: int) -> None:
    versions = parse_if_match(if_match)
    if versions is not None and current_version not in versions:
        raise PreconditionFailed(
            f"If-Match does not match; the current ETag is {etag_for(current_version)}.",
            current_etag=etag_for(current_version),
        )


def set_etag(response: Response, version: int, variant: str = "") -> None:
    response.headers["ETag"] = etag_for(version, variant)


# -- If-None-Match on reads (RFC 9110 §13.1.2) ---------------------------------------

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "ETag": {
                "description": "The record's version as a weak ETag: send it back as "
                "`If-None-Match` to read it again only if it changed, or as `If-Match` "
                "to change it only if nobody else did.",
                "schema": {"type": "string", "example": 'W/"3"'},
            }
        }
    },
    304: {
        "description": "Not modified: `If-None-Match` named the current ETag (or `*`); "
        "no body, the ETag header repeats it.",
        "headers": {"ETag": {"description": "The current ETag.", "schema": {"type": "string"}}},
    },
}

_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*(?:,|$)')
# A 304 carries no representation: its metadata goes with the body (RFC 9110 §15.4.5).
_DROPPED_ON_304 = (b"content-type", b"content-length", b"content-encoding",
                   b"content-language", b"content-disposition", b"transfer-encoding")  # fmt: skip


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names `etag` by weak comparison (W/ ignored), or is `*`.
    A malformed header matches nothing (the read is answered in full)."""
    if if_none_match.strip() == "*":
        return True
    own = _ENTITY_TAG.match(etag)
    if own is None:
        return False
    pos, value = 0, if_none_match.strip()
    while pos < len(value):
        m = _ENTITY_TAG.match(value, pos)
        if m is None:
            return False
        if m.group(1) == own.group(1):
            return True
        pos = m.end()
    return False


class ConditionalReadMiddleware:
    """Turns a GET's 200 with an ETag into a bodiless 304 when `If-None-Match` matches.
    A request without the header passes through untouched (one scan of its headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        wanted = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if wanted is None:
            await self.app(scope, receive, send)
            return
        if_none_match = wanted.decode("latin-1")
        not_modified = False

        async def send_conditionally(message: Message) -> None:
            nonlocal not_modified
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    etag = next((v for k, v in message["headers"] if k == b"etag"), None)
                    if etag is not None and none_match(if_none_match, etag.decode("latin-1")):
                        not_modified = True
                        headers = [(k, v) for k, v in message["headers"]
                                   if k not in _DROPPED_ON_304]  # fmt: skip
                        await send({**message, "status": 304, "headers": headers})
                        return
            elif message["type"] == "http.response.body" and not_modified:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app(scope, receive, send_conditionally)


IfMatch = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when the ticket changed.")
]
# The same header for any other resource (the description is the spec's).
IfMatchStale = Annotated[
    str | None, Header(description="ETag from a previous read; 412 when it is stale.")
]
