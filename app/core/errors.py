"""RFC 9457 problem+json: one error type per kind, one handler set for the app."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.logging import request_id_var
from app.core.outputs import OutputModel

PROBLEM_BASE = "https://supportline.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPE = "application/json"

log = logging.getLogger("supportline.errors")


class FieldError(OutputModel):
    loc: list[str | int] = Field(
        description="Path of the offending field, e.g. ['body', 'priority']."
    )
    msg: str
    type: str


class Problem(OutputModel):
    """An RFC 9457 problem detail. Extension members depend on `type`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "https://supportline.dev/problems/invalid-transition",
                "title": "Action not allowed in the current state",
                "status": 409,
                "detail": "Cannot resolve a ticket that is 'new'.",
                "instance": "/v1/tickets/0192f3c4-0000-7000-8000-000000000000/resolve",
                "request_id": "b6f1c2d3e4f5",
                "current_state": "new",
                "allowed_actions": ["acknowledge", "start", "assign", "cancel"],
            }
        },
    )

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class AppError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"
    # For a 422 raised without an `errors` list: where its `field` is, and the `type` of
    # the one error made from it (`_field_errors`).
    where = "body"
    error_type = "value_error"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJSON(AppError):
    status, slug, title = 400, "malformed-json", "Malformed JSON body"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"

    def __init__(self, detail: str | None = None, **ext: Any) -> None:
        super().__init__(detail, **ext)
        self.headers["WWW-Authenticate"] = 'Bearer realm="supportline"'


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Action not permitted for this role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Resource not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class InvalidTransition(AppError):
    status, slug, title = 409, "invalid-transition", "Action not allowed in the current state"


class AtMaximumLoad(AppError):
    status, slug, title = 409, "at-maximum-load", "Engineer at maximum load"


class NoEngineerAvailable(AppError):
    status, slug, title = 409, "no-engineer-available", "No engineer on duty can take it"


class IdempotencyInProgress(AppError):
    status, slug, title = 409, "idempotency-in-progress", "A request with this key is still running"


class IdempotencyMismatch(AppError):
    status, slug, title = (
        422,
        "idempotency-key-reused",
        "Idempotency-Key reused with a different request",
    )
    where, error_type = "header", "idempotency_key_reused"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        extensions.setdefault("field", "Idempotency-Key")
        super().__init__(detail, **extensions)


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "The resource has changed (stale ETag)"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class WebhookUnauthorized(AppError):
    """A webhook source's request without a valid signature or token: not an API key's
    401, so it neither says so nor asks for a bearer API key."""

    status, slug, title = 401, "webhook-unauthorized", "Missing or invalid webhook credentials"


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, retry_after: int = 1, **ext: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **ext)
        self.headers["Retry-After"] = str(max(1, retry_after))


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "The request is not valid"


def _problem(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id_var.get(),
    }
    if extensions:
        body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _not_json(error: Any) -> bool:
    """FastAPI hands a JSON operation's body over as raw bytes when its Content-Type is
    not JSON (or missing), and the model then refuses bytes as "not a dictionary":
    that is a 415, not a 422."""
    return tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes)


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


def _field_errors(
    status: int, detail: str | None, extensions: dict[str, Any] | None, where: str, kind: str
) -> dict[str, Any] | None:
    """Every 422 carries `errors` (docs/api-guide.md, "Errors"): a service's refusal that
    names only a `field` gets the one error it describes, shaped like a validation
    error's, so that clients read every 422 the same way."""
    if status != 422 or (extensions and "errors" in extensions):
        return extensions
    field = (extensions or {}).get("field")
    loc: list[str | int] = [where, *([field] if isinstance(field, str) else [])]
    error = {"loc": loc, "msg": detail or "The request is not valid.", "type": kind}
    return {**(extensions or {}), "errors": [error]}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    extensions = _field_errors(exc.status, exc.detail, exc.extensions, exc.where, exc.error_type)
    return _problem(request, exc.status, exc.slug, exc.title, exc.detail, extensions, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _problem(
            request, 400, MalformedJSON.slug, MalformedJSON.title, "The body is not valid JSON."
        )
    if any(_not_json(e) for e in errors):
        return _problem(
            request,
            415,
            UnsupportedMediaType.slug,
            UnsupportedMediaType.title,
            "The body must be JSON: send it with `Content-Type: application/json`.",
            {"allowed": [JSON_MEDIA_TYPE]},
        )
    items = [
        {"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in errors
    ]
    return _problem(
        request,
        422,
        Unprocessable.slug,
        Unprocessable.title,
        f"{len(items)} field(s) failed validation.",
        {"errors": items},
    )


_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Missing or invalid API key"),
    404: ("not-found", "Resource not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers) if exc.headers else None
    return _problem(request, exc.status_code, slug, title, detail, headers=headers)


_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)=")


def conflicting_field(orig: Any) -> str | None:
    """The field a database refusal is about, named as a service would name it: the
    column of a NOT NULL refusal, or the last column of the key in PostgreSQL's detail
    (`Key (branch_id, code)=(...) already exists.` is about `code`; the leading columns
    of a composite key scope it)."""
    cause = getattr(orig, "__cause__", None)
    column = getattr(cause, "column_name", None)
    if isinstance(column, str) and column:
        return column
    found = _KEY_COLUMNS.search(str(getattr(cause, "detail", None) or ""))
    if found is None:
        return None
    return found.group(1).split(",")[-1].strip().strip('"') or None


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # Services check what they can first; this catches the races they cannot (two
    # requests creating the same code at once) so the client gets a problem, not a 500.
    # Its members are the services' own: `field`, and `errors` on a 422.
    assert isinstance(exc, IntegrityError)
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    field = conflicting_field(exc.orig)
    ext = {"field": field} if field else None
    if sqlstate == "23505":
        return _problem(
            request, 409, Conflict.slug, Conflict.title, "A record with these values exists.", ext
        )
    if sqlstate == "23503":
        detail, kind = "A referenced record does not exist.", "foreign_key_violation"
    else:
        detail, kind = "The data violates a rule of the database.", "database_rule"
    ext = _field_errors(422, detail, ext, "body", kind)
    return _problem(request, 422, Unprocessable.slug, Unprocessable.title, detail, ext)


# PostgreSQL gave up on the transaction because of another one (a deadlock, a
# serialization failure, a lock or statement timeout): nothing was written, and the same
# request is expected to succeed when sent again.
_RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03", "57014"}


def _sqlstate(exc: BaseException) -> str | None:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 6:
        for holder in (current, getattr(current, "orig", None)):
            state = getattr(holder, "sqlstate", None) or getattr(holder, "pgcode", None)
            if isinstance(state, str):
                return state
        current, seen = current.__cause__ or current.__context__, seen + 1
    return None


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this, inside RequestContextMiddleware (the
    # outermost layer), so the request id is still set and the answer gets its header.
    if _sqlstate(exc) in _RETRYABLE_SQLSTATES:
        log.warning("transaction gave way to another; answered 503", exc_info=exc)
        return _problem(
            request, 503, "retry", "Busy, please retry",
            "The change collided with another one and was not made; send it again.",
            headers={"Retry-After": "1"},
        )  # fmt: skip
    log.exception("unhandled error", exc_info=exc)
    return internal_error_response(request.url.path)


def internal_error_response(path: str) -> JSONResponse:
    """The 500 problem. Sent through RequestContextMiddleware, which adds `X-Request-ID`;
    the body names the same id."""
    body = {
        "type": PROBLEM_BASE + "internal",
        "title": "Internal error",
        "status": 500,
        "detail": "An unexpected error occurred.",
        "instance": path,
        "request_id": request_id_var.get(),
    }
    return JSONResponse(body, status_code=500, media_type=PROBLEM_MEDIA_TYPE)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unhandled)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries typing each error as a Problem."""
    descriptions = {
        400: "Malformed request (e.g. invalid JSON).",
        401: "Missing or invalid API key.",
        403: "The key's role may not take this action.",
        404: "Not found, or outside the key's branch scope.",
        409: "Conflicts with the current state (or an idempotent request still running).",
        412: "If-Match does not match the current ETag.",
        413: "Payload too large.",
        415: "Unsupported media type.",
        422: "Validation failed (or Idempotency-Key reused with another body).",
        429: "Too many requests: try again after `Retry-After` seconds.",
    }
    return {
        s: {
            "model": Problem,
            "description": descriptions.get(s, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
