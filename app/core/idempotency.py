"""Idempotency-Key on POST, stored per (principal, key) in the request's own transaction.

Why in the same transaction: the stored response exists exactly when the change it
describes was committed, so a crash can never leave a key that replays a response for
data that was rolled back, nor a committed change without its key.
Concurrency: a transaction-scoped advisory lock on (principal, key); a second request
with the same key while the first holds it answers 409 instead of waiting.

"The same request" means the same method, path and *content*, not the same bytes (as
Stripe compares parameters): a JSON body is compared in a canonical form (keys sorted at
every level, no insignificant whitespace, numbers as parsed), a multipart form by its
fields (sorted by name; a file by its name, type and SHA-256), anything else by its
bytes. A client that re-serialises its retry (another key order, pretty-printed, another
multipart boundary) is recognised.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import CursorResult, LargeBinary, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel, col, select
from starlette.datastructures import UploadFile

from app.core.columns import ts_field
from app.core.db import UnitOfWork
from app.core.errors import BadRequest, IdempotencyInProgress, IdempotencyMismatch

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    principal_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=MAX_KEY_LENGTH)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: bytes = Field(sa_type=LargeBinary)
    response_headers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = ts_field(index=True)


_FILE_CHUNK = 1 << 16


async def request_digest(request: Request) -> str:
    """SHA-256 of method, path and the body's canonical form (see the module's doc)."""
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\0")
    h.update(request.url.path.encode())
    h.update(b"\0")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        h.update(b"form\0")
        await _hash_form(request, h)
    else:
        h.update(await canonical_body(request))
    return h.hexdigest()


async def canonical_body(request: Request) -> bytes:
    """The body as compared: b"json:" + sorted compact JSON when it parses as JSON (and
    its content type, if any, says JSON), else b"raw:" + the bytes as sent."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    media = content_type.partition(";")[0].strip().lower()
    if body and (not media or media == "application/json" or media.endswith("+json")):
        try:
            # Parsed once: FastAPI has parsed a JSON body before the dependencies run,
            # and Starlette keeps the result on the request.
            parsed = await request.json()
            return b"json:" + orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)
        except (ValueError, UnicodeDecodeError, orjson.JSONEncodeError):
            # Not JSON (the handler refuses it), or beyond what orjson writes (an
            # integer over 64 bits): compared as bytes.
            pass
    return b"raw:" + body


async def _hash_form(request: Request, h: Any) -> None:
    form = await request.form()  # parsed already by FastAPI for the handler; kept
    for name, value in sorted(form.multi_items(), key=lambda item: item[0]):
        h.update(json.dumps(name).encode())
        if isinstance(value, UploadFile):
            # A file by its name, type and content (hashed in chunks, then rewound for
            # the handler).
            h.update(b"=file:")
            h.update(json.dumps([value.filename, value.content_type]).encode())
            content = hashlib.sha256()
            await value.seek(0)
            while chunk := await value.read(_FILE_CHUNK):
                content.update(chunk)
            await value.seek(0)
            h.update(content.digest())
        else:
            h.update(b"=")
            h.update(json.dumps(value).encode())
        h.update(b"\0")


class IdempotentReplay(Exception):
    def __init__(self, record: IdempotencyRecord) -> None:
        # Plain values, read now: the unit of work rolls back (expiring the row) before
        # the handler builds the response.
        self.status_code = record.status_code
        self.body = record.response_body
        self.headers = dict(record.response_headers or {})


class IdempotentRequest:
    def __init__(self, uow: UnitOfWork, principal_id: uuid.UUID, key: str | None, digest: str):
        self.uow = uow
        self.principal_id = principal_id
        self.key = key
        self.digest = digest

    @classmethod
    async def begin(
        cls, uow: UnitOfWork, principal_id: uuid.UUID, request: Request
    ) -> IdempotentRequest:
        key = request.headers.get(HEADER)
        if key is None:
            return cls(uow, principal_id, None, "")
        if not key or len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
        digest = await request_digest(request)
        lock_key = f"{principal_id}:{key}"
        got = (
            await uow.session.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock_key}
            )
        ).scalar_one()
        if not got:
            raise IdempotencyInProgress(f"A request with {HEADER} '{key}' is still running.")
        existing = (
            await uow.session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            if existing.request_hash != digest:
                raise IdempotencyMismatch(
                    f"{HEADER} '{key}' was first used with a different request."
                )
            raise IdempotentReplay(existing)
        return cls(uow, principal_id, key, digest)

    async def respond(
        self, payload: BaseModel, status_code: int = 201, headers: dict[str, str] | None = None
    ) -> Response:
        body = payload.__pydantic_serializer__.to_json(payload)
        headers = headers or {}
        if self.key is not None:
            self.uow.session.add(
                IdempotencyRecord(
                    principal_id=self.principal_id,
                    key=self.key,
                    request_hash=self.digest,
                    status_code=status_code,
                    response_body=body,
                    response_headers=headers,
                )
            )
            await self.uow.session.flush()
        return Response(
            body, status_code=status_code, headers=headers, media_type="application/json"
        )


async def replay_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    headers = dict(exc.headers)
    headers["Idempotent-Replayed"] = "true"
    return Response(
        exc.body,
        status_code=exc.status_code,
        headers=headers,
        media_type="application/json",
    )


async def purge_expired(uow: UnitOfWork, older_than: datetime) -> int:
    result = await uow.session.execute(
        IdempotencyRecord.__table__.delete().where(  # type: ignore[attr-defined]
            col(IdempotencyRecord.created_at) < older_than
        )
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)
