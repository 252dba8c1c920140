"""Lean handlers for routes that need only the request: FastAPI's per-request machinery
(two exit stacks, the dependency solver, its body and response handling) replaced by
direct calls, for routes where that machinery has nothing to do.

A route qualifies when its endpoint is a coroutine annotated `-> Response` (so FastAPI
would send what it returns untouched), has no parameter of its own, and each of its
dependencies is a named coroutine function of the request alone (no sub-dependencies,
no generators, no parameters): `GET /v1/tickets`, whose two dependencies are the
principal and the query model, is the one that matters. For such a route FastAPI would
call each dependency with the request, then the endpoint with the results, and send the
response; an exception goes to the app's handlers. The lean handler does the same, in
the same order, through Starlette's `wrap_app_handling_exceptions` as FastAPI's does;
the spec is built from the route's dependant, which stays as it is. Dependency
overrides are not consulted, as FastAPI's handler does not for the flat routes either
(`include_flat` copies routes whose `dependency_overrides_provider` is None). Why: the
solver and the exit stacks were 5% of a list page's instructions (bench/README.md)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

_Call = Callable[[Request], Awaitable[Any]]


def _no_params(d: Dependant) -> bool:
    return not (
        d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
    )


def _request_only(d: Dependant) -> bool:
    call = d.call
    return (
        d.name is not None
        and inspect.iscoroutinefunction(call)
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


def lean_calls(route: APIRoute) -> list[tuple[str, _Call]] | None:
    """The route's dependencies as (name, call), or None when it does not qualify."""
    d = route.dependant
    if not (
        inspect.iscoroutinefunction(route.endpoint)
        and _returns_response(route.endpoint)
        and _no_params(d)
        and d.request_param_name is None
        and all(_request_only(x) for x in d.dependencies)
    ):
        return None
    names = [x.name for x in d.dependencies]
    if len(set(names)) != len(names):
        return None
    return [(x.name, x.call) for x in d.dependencies]  # type: ignore[misc]


def _lean_app(
    endpoint: Callable[..., Awaitable[Response]], calls: list[tuple[str, _Call]]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            kwargs = {name: await call(request) for name, call in calls}
            response = await endpoint(**kwargs)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(handle, request)(scope, receive, send)

    return app


def make_lean(routes: Iterable[BaseRoute]) -> list[str]:
    """Gives every qualifying route the lean handler; returns their paths."""
    made = []
    for route in routes:
        if isinstance(route, APIRoute):
            calls = lean_calls(route)
            if calls is not None:
                route.app = _lean_app(route.endpoint, calls)
                made.append(f"{','.join(sorted(route.methods or ()))} {route.path}")
    return made
