"""`core.leanroutes`: which routes skip FastAPI's dependency solver, and that a lean
route answers as FastAPI would (the list's own tests run through it; here its edges)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.core.errors import Unauthorized, install_error_handlers
from app.core.leanroutes import lean_calls, make_lean
from app.main import create_app


async def who(request: Request) -> str:
    name = request.headers.get("x-name")
    if not name:
        raise Unauthorized("Say who you are.")
    return name


async def gen() -> AsyncIterator[int]:
    yield 1


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/lean")
    async def lean(name: Annotated[str, Depends(who)]) -> Response:
        return JSONResponse({"name": name}, headers={"X-Lean": "1"})

    @app.get("/with-query")
    async def with_query(q: int, name: Annotated[str, Depends(who)]) -> Response:
        return JSONResponse({"q": q})

    @app.get("/with-generator")
    async def with_generator(n: Annotated[int, Depends(gen)]) -> Response:
        return JSONResponse({"n": n})

    @app.get("/returns-dict")
    async def returns_dict(name: Annotated[str, Depends(who)]) -> dict[str, str]:
        return {"name": name}

    return app


def test_only_request_only_routes_returning_a_response_are_lean() -> None:
    app = _app()
    made = make_lean(app.router.routes)
    assert made == ["GET /lean"]


def test_the_real_app_makes_the_ticket_list_lean() -> None:
    app = create_app()
    lean = {r.path for r in app.router.routes if isinstance(r, APIRoute) and lean_calls(r)}
    assert "/v1/tickets" in lean
    assert "/v1/devices/{device_id}/tickets" not in lean  # a path parameter and a UoW


async def test_a_lean_route_answers_and_refuses_as_fastapi_does() -> None:
    plain, lean = _app(), _app()
    make_lean(lean.router.routes)
    for headers in ({"x-name": "zhang-san"}, {}):
        answers = []
        for app in (plain, lean):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.get("/lean", headers=headers)
                answers.append((r.status_code, r.headers.get("content-type"), r.content))
        assert answers[0] == answers[1]
    assert answers[0][0] == 401
