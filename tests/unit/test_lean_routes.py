"""`core.leanroutes`: which routes skip FastAPI's dependency solver, and that a lean
route answers as FastAPI would (the list's own tests run through it; here its edges)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.core.errors import Conflict, Unauthorized, install_error_handlers
from app.core.leanroutes import lean_calls, make_lean
from app.main import create_app


async def who(request: Request) -> str:
    name = request.headers.get("x-name")
    if not name:
        raise Unauthorized("Say who you are.")
    return name


async def gen() -> AsyncIterator[int]:
    yield 1


class Thing(BaseModel):
    name: str = Field(min_length=1)
    count: int = 1


async def unit(request: Request) -> AsyncIterator[str]:
    """A unit of work's shape: it logs what FastAPI (or the lean handler) makes it do."""
    log = request.app.state.log
    log.append("enter")
    try:
        yield "unit"
    except BaseException as e:
        log.append(f"rollback {type(e).__name__}")
        raise
    else:
        log.append("commit")


def _app(log: list[str] | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    log = [] if log is None else log
    app.state.log = log

    @app.post("/things", status_code=201)
    async def things(
        body: Thing,
        name: Annotated[str, Depends(who)],
        u: Annotated[str, Depends(unit, scope="function")],
    ) -> Response:
        if body.name == "conflict":
            raise Conflict("Taken.")
        log.append(f"endpoint {body.count}")
        return JSONResponse({**body.model_dump(), "by": name, "u": u}, status_code=201)

    @app.post("/request-scoped")
    async def request_scoped(u: Annotated[str, Depends(unit)]) -> Response:
        return JSONResponse({"u": u})

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
    assert sorted(made) == ["GET /lean", "POST /things"]  # not /request-scoped


def test_the_real_app_makes_the_ticket_list_lean() -> None:
    app = create_app()
    lean = {r.path for r in app.router.routes if isinstance(r, APIRoute) and lean_calls(r)}
    assert "/v1/tickets" in lean
    assert "/v1/devices/{device_id}/tickets" not in lean  # a path parameter and a UoW
    creates = [r for r in app.router.routes if isinstance(r, APIRoute) and r.path == "/v1/tickets"]
    assert {m for r in creates if lean_calls(r) is not None for m in r.methods or ()} == {
        "GET",
        "POST",
    }


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


_BODIES: list[tuple[str, dict[str, str], Any]] = [
    ("valid", {"content-type": "application/json"}, b'{"name": "pump", "count": 2}'),
    ("charset", {"content-type": "application/json; charset=utf-8"}, b'{"name": "pump"}'),
    ("+json", {"content-type": "application/merge-patch+json"}, b'{"name": "pump"}'),
    ("no body", {}, b""),
    ("no body, json type", {"content-type": "application/json"}, b""),
    ("no content type", {}, b'{"name": "pump"}'),
    ("text/plain", {"content-type": "text/plain"}, b'{"name": "pump"}'),
    ("form type", {"content-type": "application/x-www-form-urlencoded"}, b"name=pump"),
    ("malformed", {"content-type": "application/json"}, b'{"name": '),
    ("array", {"content-type": "application/json"}, b"[1, 2]"),
    ("null", {"content-type": "application/json"}, b"null"),
    ("invalid fields", {"content-type": "application/json"}, b'{"name": "", "count": "x"}'),
    ("not utf-8", {"content-type": "application/json"}, b'{"name": "\xff"}'),
    ("refused by the endpoint", {"content-type": "application/json"}, b'{"name": "conflict"}'),
]


@pytest.mark.parametrize("who_header", [{"x-name": "li-si"}, {}], ids=["known", "anonymous"])
@pytest.mark.parametrize(("case", "headers", "body"), _BODIES, ids=[b[0] for b in _BODIES])
async def test_a_lean_body_route_answers_and_refuses_as_fastapi_does(
    case: str, headers: dict[str, str], body: bytes, who_header: dict[str, str]
) -> None:
    answers, logs = [], []
    for lean in (False, True):
        log: list[str] = []
        app = _app(log)
        if lean:
            make_lean(app.router.routes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/things", content=body, headers={**headers, **who_header})
            answers.append((r.status_code, r.headers.get("content-type"), r.content))
        logs.append(log)
    assert answers[0] == answers[1], case
    assert logs[0] == logs[1], case


async def test_a_function_scoped_generator_closes_before_the_response_is_sent() -> None:
    log: list[str] = []
    app = _app(log)
    make_lean(app.router.routes)
    sent = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"name": "pump"}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append((message["type"], list(log)))

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/things",
        "raw_path": b"/things",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"x-name", b"li-si")],
    }
    await app(scope, receive, send)
    assert sent[0] == ("http.response.start", ["enter", "endpoint 1", "commit"])
