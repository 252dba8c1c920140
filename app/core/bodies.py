"""Request bodies read raw (a mail message, a webhook's payload), under a size limit."""

from __future__ import annotations

from fastapi import Request

from app.core.errors import PayloadTooLarge


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """The body, refused (413) once it passes `limit` bytes: a declared Content-Length
    over it before anything is read, else counted as it arrives, so an oversized body
    (chunked, or lying about its length) is never held whole."""
    too_large = PayloadTooLarge(f"{what} are limited to {limit} bytes.", limit=limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
