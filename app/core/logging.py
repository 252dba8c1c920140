"""Log lines carrying the request id (and principal, ticket) of the current request:
JSON for machines (the default), plain text for a person (`LOG_JSON=false`, `make run`).

A record's structured fields travel in `extra={"fields": {...}}`: JSON puts them as
keys; plain text appends them as `key=value`, except those the message already shows
(named in `extra={"shown": (...)}`, e.g. the access line's method, path, status and
duration)."""

from __future__ import annotations

import contextlib
import logging
import sys
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[str | None] = ContextVar("principal", default=None)
ticket_var: ContextVar[str | None] = ContextVar("ticket_id", default=None)

# Context keys as JSON names them, with the short name plain text uses.
_CONTEXT = (("principal", "principal"), ("ticket_id", "ticket"), ("request_id", "rid"))
_LOGGED_MARK = "_supportline_logged"


def context_fields() -> dict[str, str]:
    """The current request's context that is known (unset values are left out)."""
    out = {}
    for key, var in (
        ("principal", principal_var),
        ("ticket_id", ticket_var),
        ("request_id", request_id_var),
    ):
        value = var.get()
        if value:
            out[key] = value
    return out


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request's context, then the record's own fields, which win (the access line
    names its principal even when there is none). Handlers format synchronously, in the
    context of the call, so the context variables are the caller's."""
    entry: dict[str, Any] = context_fields()
    extra = getattr(record, "fields", None)
    if isinstance(extra, dict):
        entry.update(extra)
    return entry


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _text(value: Any) -> str:
    if value is None:
        return "-"
    s = str(value)
    return orjson.dumps(s).decode() if (not s or " " in s or '"' in s or "=" in s) else s


class TextFormatter(logging.Formatter):
    """`2026-12-02 10:00:00 INFO access POST /v1/tickets 201 12.3ms principal=<id> rid=<id>`"""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name.removeprefix("supportline.")
        line = f"{self.formatTime(record, '%Y-%m-%d %H:%M:%S')} {record.levelname} {name} "
        line += record.getMessage()
        shown = set(getattr(record, "shown", ()))
        entry = _fields(record)
        short = {key: label for key, label in _CONTEXT}
        # Own fields first, the context (principal, ticket, request id) last.
        ordered = [k for k in entry if k not in short] + [k for k, _ in _CONTEXT if k in entry]
        for key in ordered:
            if key not in shown:
                line += f" {short.get(key, key)}={_text(entry[key])}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def mark_logged(exc: BaseException) -> None:
    """Notes that `exc` was logged (with its request id), so the server's own report of
    the same exception is dropped (see _DropLoggedTwice)."""
    # An exception type with __slots__ refuses the mark: it is then logged twice.
    with contextlib.suppress(AttributeError):
        setattr(exc, _LOGGED_MARK, True)


class _DropLoggedTwice(logging.Filter):
    """uvicorn logs "Exception in ASGI application" for an exception the app lets out so
    that the connection is closed (a response already begun): it was logged already."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and getattr(exc, _LOGGED_MARK, False))


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours without the request id.
    logging.getLogger("uvicorn.access").disabled = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropLoggedTwice) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_DropLoggedTwice())
