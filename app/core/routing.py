"""Route dispatch by index: a request is matched against the few routes its path can
match, not against every route of the app.

Why: FastAPI (0.16x) keeps each `include_router` as a nested router and matches a
request twice over it (once to choose the router, once inside it), trying every route's
regular expression in turn. With ~110 routes that was about a fifth of the API's CPU per
ticket creation (bench/README.md, "The cost of a request"). Here the app's routes are
added flat, as `@app.get` routes are, and bucketed by (number of path segments, first
two segments): a route whose first two segments are literal goes in its bucket; any
other (a parameter there, a `:path` convertor, a mount) is tried for every request.
Within the candidates the order of declaration is kept, so the first route that matches
wins exactly as in a full scan.

When no candidate matches in full, the request goes to the ordinary router (trailing
slash redirects, 404); when some match the path but not the method, the answer is a 405
whose `Allow` lists the methods of every route on that path (the plain router lists only
the first route's).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from app.core.inputs import accept_missing_bodies, refuse_control_in_target
from app.core.leanroutes import make_lean


def _key(path: str) -> tuple[int, str, str] | None:
    parts = path.split("/")
    if len(parts) < 3:
        return None
    return (len(parts), parts[1], parts[2])


def _static_key(route: BaseRoute) -> tuple[int, str, str] | None:
    """The bucket of a route, or None when it may match paths of other shapes."""
    if not isinstance(route, APIRoute):
        return None
    if ":path}" in route.path:
        return None
    key = _key(route.path)
    if key is None or "{" in key[1] or "{" in key[2]:
        return None
    return key


class RouteIndex:
    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.routes = list(routes)
        buckets: dict[tuple[int, str, str], list[int]] = {}
        always: list[int] = []
        for i, route in enumerate(self.routes):
            key = _static_key(route)
            if key is None:
                always.append(i)
            else:
                buckets.setdefault(key, []).append(i)
        self.always = [self.routes[i] for i in always]
        self.buckets = {
            key: [self.routes[i] for i in sorted(ids + always)] for key, ids in buckets.items()
        }

    def candidates(self, path: str) -> list[BaseRoute]:
        key = _key(path)
        if key is None:
            return self.always
        return self.buckets.get(key, self.always)


class IndexedDispatch:
    """What the app's router calls first (its `middleware_stack`): the indexed match,
    then the router's own dispatch for whatever the index does not answer."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.fallback = router.middleware_stack
        self._index: RouteIndex | None = None

    def index(self) -> RouteIndex:
        if self._index is None or len(self._index.routes) != len(self.router.routes):
            self._index = RouteIndex(self.router.routes)
        return self._index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        refuse_control_in_target(scope)  # the text rules for paths and queries (inputs.py)
        allowed: set[str] = set()
        for route in self.index().candidates(scope["path"]):
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope.setdefault("router", self.router)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL:
                allowed.update(getattr(route, "methods", None) or ())
        if allowed:
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
        await self.fallback(scope, receive, send)


def include_flat(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Adds the routes of `routers` to the app as they are (they carry their prefix,
    tags and dependencies already, as `@app.get` routes do) and dispatches by index."""
    for router in routers:
        app.router.routes.extend(router.routes)
    accept_missing_bodies(app.router.routes)  # an all-optional body may be left out (inputs.py)
    make_lean(app.router.routes)  # routes that need only the request skip the solver
    mark = getattr(app.router, "_mark_routes_changed", None)
    if mark is not None:
        mark()
    app.router.middleware_stack = IndexedDispatch(app.router)
