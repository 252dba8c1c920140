"""Request context middleware (pure ASGI, cheap): request id, access log, metrics, and the
last word on errors.

It is the outermost layer of the app (main.SupportlineAPI), outside Starlette's
ServerErrorMiddleware, so the request id is still set while the 500 is answered, and the
answer goes out through it with its `X-Request-ID`. ServerErrorMiddleware answers an
unhandled exception with our handler (errors._unhandled, which logs it) and then raises
it again for the server; the server would close the keep-alive connection without a
`Connection: close`, and the client's next request on it would fail. So here:

- the response was sent complete: the exception is dropped, the connection lives on;
- a response was begun and not finished: the exception goes on to the server, which
  closes the connection (the only honest end of a cut-off body); it is logged once;
- nothing was sent (an error in ServerErrorMiddleware itself): a 500 problem is sent.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import mark_logged, principal_var, request_id_var, ticket_var
from app.core.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger("supportline.access")
errors_log = logging.getLogger("supportline.errors")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The access line's fields the plain-text message shows itself.
_SHOWN = ("method", "path", "status", "duration_ms")
# A decoded path may hold spaces or control characters: logged percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # A caller's id is kept only if it is harmless to log and echo.
        rid = incoming if incoming and _VALID_ID.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(rid)
        ptoken = principal_var.set(None)
        ttoken = ticket_var.set(None)
        start = time.perf_counter()
        status = 500
        started = finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if finished:
                pass  # answered (a 500 problem, logged by its handler): keep the connection
            elif started:
                mark_logged(exc)
                raise  # the server closes the connection: a cut-off response must not look whole
            else:
                errors_log.exception("unhandled error outside the app", exc_info=exc)
                await _send_500(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route: Any = scope.get("route")
            method = scope["method"]
            REQUESTS.labels(method, getattr(route, "path", "unmatched"), str(status)).inc()
            REQUEST_SECONDS.labels(method, getattr(route, "path", "unmatched")).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                _log_access(
                    scope, method, quote(scope["path"], safe=_PATH_SAFE), status, elapsed, rid
                )
            request_id_var.reset(token)
            principal_var.reset(ptoken)
            ticket_var.reset(ttoken)


def _log_access(
    scope: Scope, method: str, path: str, status: int, elapsed: float, rid: str
) -> None:
    ms = round(elapsed * 1000, 1)
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": ms,
        # Set by the authentication dependency, in this same context (the route's
        # dependencies are awaited, not run in another task).
        "principal": principal_var.get(),
        "request_id": rid,
    }
    ticket = ticket_var.get() or _ticket_in_path(scope)
    if ticket:
        fields["ticket_id"] = ticket
    log.info("%s %s %s %.1fms", method, path, status, ms, extra={"fields": fields, "shown": _SHOWN})


def _ticket_in_path(scope: Scope) -> str | None:
    """The ticket a request names in its path (`/v1/tickets/{ticket_id}/...`), even when
    the route failed before it could say so itself; only a well-formed id is logged."""
    route: Any = scope.get("route")
    raw = scope.get("path_params", {}).get("ticket_id")
    if raw is None or not getattr(route, "path", "").startswith("/v1/tickets/{ticket_id}"):
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        return None


async def _send_500(scope: Scope, receive: Receive, send: Send) -> None:
    from app.core.errors import internal_error_response

    await internal_error_response(scope["path"])(scope, receive, send)
