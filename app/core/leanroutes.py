"""Lean handlers for routes that need only the request (and at most one JSON body):
FastAPI's per-request machinery (two exit stacks, the dependency solver, its response
handling) replaced by direct calls, for routes where that machinery has nothing to do.

A route qualifies when its endpoint is a coroutine annotated `-> Response` (so FastAPI
would send what it returns untouched), has no parameter of its own but at most one
JSON body model, and each of its dependencies is a named function of the request alone
(no sub-dependencies, no parameters): a coroutine, or an async generator declared with
`scope="function"`. `GET /v1/tickets` (the principal and the query model) and `POST
/v1/tickets` (the body and one generator: principal, unit of work, Idempotency-Key) are
the ones that matter.

For such a route FastAPI would read the body (JSON by its Content-Type, a decoding error
raised at once), call each dependency with the request in order, entering a generator
up to its `yield`, validate the body, call the endpoint, close the generators (a
function-scoped one gets the endpoint's exception thrown in at its `yield`) and send the
response; an exception goes to the app's handlers. The lean handler does the same, in
the same order, with FastAPI's own body validation (`request_body_to_args`, so the same
errors) and through Starlette's `wrap_app_handling_exceptions` as FastAPI's does; the
spec is built from the route's dependant, which stays as it is. Dependency overrides
are not consulted, as FastAPI's handler does not for the flat routes either
(`include_flat` copies routes whose `dependency_overrides_provider` is None). Why: the
solver and the exit stacks were 5% of a list page's instructions and about a tenth of
a creation's (bench/README.md)."""

from __future__ import annotations

import email.message
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic_core import PydanticUndefined as Undefined  # FastAPI's "no body" marker
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

_Call = Callable[[Request], Any]


def _no_params(d: Dependant, body: bool = False) -> bool:
    return not (
        d.path_params
        or d.query_params
        or d.header_params
        or d.cookie_params
        or (d.body_params and not body)
    )


def _request_only(d: Dependant) -> bool:
    call = d.call
    kind_ok = inspect.iscoroutinefunction(call) or (
        inspect.isasyncgenfunction(call) and d.scope == "function"
    )
    return (
        d.name is not None
        and kind_ok
        and not d.dependencies
        and d.request_param_name is not None
        and d.security_scopes_param_name is None
        and d.websocket_param_name is None
        and d.http_connection_param_name is None
        and d.response_param_name is None
        and d.background_tasks_param_name is None
        and _no_params(d)
        and len(inspect.signature(call).parameters) == 1  # type: ignore[arg-type]
    )


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except Exception:  # an annotation that cannot be resolved: leave it to FastAPI
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _json_body(route: APIRoute) -> bool:
    """No body, or one JSON body model that is not embedded (FastAPI validates it whole,
    at `loc=("body",)`)."""
    fields = route.dependant.body_params
    if not fields:
        return True
    info = fields[0].field_info
    model = fields[0].field_info.annotation
    return (
        len(fields) == 1
        and not route._embed_body_fields
        and not isinstance(info, params.Form)
        and isinstance(model, type)
        and issubclass(model, BaseModel)
    )


def lean_calls(route: APIRoute) -> list[tuple[str, _Call]] | None:
    """The route's dependencies as (name, call), or None when it does not qualify."""
    d = route.dependant
    if not (
        inspect.iscoroutinefunction(route.endpoint)
        and _returns_response(route.endpoint)
        and _no_params(d, body=True)
        and _json_body(route)
        and d.request_param_name is None
        and all(_request_only(x) for x in d.dependencies)
    ):
        return None
    names = [x.name for x in d.dependencies]
    if len(set(names)) != len(names):
        return None
    return [(x.name, _as_call(x.call)) for x in d.dependencies]  # type: ignore[misc]


def _as_call(call: Any) -> _Call:
    return asynccontextmanager(call) if inspect.isasyncgenfunction(call) else call  # type: ignore[no-any-return]


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def _read_body(request: Request, strict: bool) -> Any:
    """The body as FastAPI's handler reads it: parsed JSON when the Content-Type says
    JSON (or is missing and the route is not strict), else the bytes; none at all when
    empty. A JSON error is raised at once, before any dependency runs."""
    try:
        raw = await request.body()
        if not raw:
            return Undefined
        content_type = request.headers.get("content-type")
        if (not content_type and not strict) or (content_type and _is_json(content_type)):
            return await request.json()
        return raw
    except json.JSONDecodeError as e:
        error = {
            "type": "json_invalid",
            "loc": ("body", e.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": e.msg},
        }
        raise RequestValidationError([error], body=e.doc) from e
    except HTTPException:
        raise
    except Exception as e:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e


def _lean_app(route: APIRoute, calls: list[tuple[str, _Call]]) -> Callable[..., Awaitable[None]]:
    endpoint = route.endpoint
    fields = route.dependant.body_params
    strict = bool(getattr(route.strict_content_type, "value", route.strict_content_type))
    contexts = {name for name, call in calls if not inspect.iscoroutinefunction(call)}

    async def arguments(request: Request, stack: AsyncExitStack | None) -> dict[str, Any]:
        body = await _read_body(request, strict) if fields else Undefined
        kwargs = {}
        for name, call in calls:
            if name in contexts:
                assert stack is not None
                kwargs[name] = await stack.enter_async_context(call(request))
            else:
                kwargs[name] = await call(request)
        if fields:
            values, errors = await request_body_to_args(fields, body, False)
            if errors:
                raise RequestValidationError(errors, body=None if body is Undefined else body)
            kwargs.update(values)
        return kwargs

    async def handle(request: Request) -> Response:
        if not contexts:
            return await endpoint(**await arguments(request, None))  # type: ignore[no-any-return]
        async with AsyncExitStack() as stack:  # closed before the response is sent
            return await endpoint(**await arguments(request, stack))  # type: ignore[no-any-return]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handle(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(respond, request)(scope, receive, send)

    return app


def make_lean(routes: Iterable[BaseRoute]) -> list[str]:
    """Gives every qualifying route the lean handler; returns their paths."""
    made = []
    for route in routes:
        if isinstance(route, APIRoute):
            calls = lean_calls(route)
            if calls is not None:
                route.app = _lean_app(route, calls)
                made.append(f"{','.join(sorted(route.methods or ()))} {route.path}")
    return made
