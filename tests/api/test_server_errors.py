"""A 500 over a real uvicorn server and a real keep-alive connection: the answer is a
problem carrying its request id (body and `X-Request-ID`), the connection serves the
next request, the exception is logged once with the request id; a response cut off
midway closes the connection; a 503 `retry` keeps its request id too."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import orjson
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from app.core.logging import JsonFormatter


class Boom(RuntimeError):
    pass


def _test_app() -> FastAPI:
    """The real app (create_app) plus test-only routes that fail."""
    from app.main import create_app

    app = create_app()

    @app.get("/test/boom")
    async def boom() -> None:
        raise Boom("a bug")

    @app.get("/test/deadlock")
    async def deadlock() -> None:
        err = Boom("wrapped")
        err.__cause__ = asyncpg.DeadlockDetectedError("deadlock detected")
        raise err

    @app.get("/test/cut")
    async def cut() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first part,"
            raise Boom("failed midway")

        return StreamingResponse(body(), media_type="text/plain")

    return app


@asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[int]:
    """uvicorn in this process on a free port; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


class _Connection:
    """One keep-alive HTTP/1.1 connection, read by hand (no client library reconnects
    behind our back)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await asyncio.wait_for(self.reader.read(), 10)  # until the server closes
        return int(status_line.split()[1]), headers, body


@asynccontextmanager
async def _connect(port: int) -> AsyncIterator[_Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield _Connection(reader, writer)
    finally:
        writer.close()


@contextmanager
def _captured() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.formatted = JsonFormatter().format(record)
            records.append(record)

    handler = Keep(level=logging.ERROR)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


async def test_a_500_keeps_its_request_id_and_the_connection() -> None:
    app = _test_app()
    with _captured() as records:
        async with _serve(app) as port, _connect(port) as conn:
            status, headers, body = await conn.get("/test/boom")
            assert status == 500
            assert headers["content-type"] == "application/problem+json"
            problem = orjson.loads(body)
            assert problem["type"].endswith("/internal") and problem["status"] == 500
            assert problem["request_id"] and problem["request_id"] == headers["x-request-id"]
            assert "a bug" not in body.decode()  # no internals to the client
            # The same connection serves the next request (or the 500 had said close).
            if headers.get("connection", "").lower() != "close":
                status, headers2, body = await conn.get("/healthz")
                assert status == 200 and orjson.loads(body) == {"status": "ok"}
                assert headers2["x-request-id"] != headers["x-request-id"]
    logged = [r for r in records if r.exc_info and isinstance(r.exc_info[1], Boom)]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert orjson.loads(logged[0].formatted)["request_id"] == problem["request_id"]


async def test_a_503_retry_keeps_its_request_id_and_the_connection() -> None:
    app = _test_app()
    async with _serve(app) as port, _connect(port) as conn:
        status, headers, body = await conn.get("/test/deadlock")
        assert status == 503 and headers["retry-after"] == "1"
        problem = orjson.loads(body)
        assert problem["type"].endswith("/retry")
        assert problem["request_id"] and problem["request_id"] == headers["x-request-id"]
        status, _, _ = await conn.get("/healthz")
        assert status == 200


async def test_a_response_cut_off_midway_closes_the_connection_and_is_logged_once() -> None:
    app = _test_app()
    with _captured() as records:
        async with _serve(app) as port, _connect(port) as conn:
            status, headers, body = await conn.get("/test/cut")
            assert status == 200 and headers["x-request-id"]
            # Read to the end: the server closed the connection, and the chunked body has
            # no last chunk, so no client takes the cut-off body for a whole one.
            assert b"first part," in body and not body.endswith(b"0\r\n\r\n")
            assert conn.reader.at_eof()
    logged = [r for r in records if r.exc_info and isinstance(r.exc_info[1], Boom)]
    assert len(logged) == 1, [(r.name, r.getMessage()) for r in logged]
    assert orjson.loads(logged[0].formatted)["request_id"] == headers["x-request-id"]


async def test_every_answer_of_the_real_app_carries_the_request_id(client: Any) -> None:
    """An error response made by a handler gets the id in body and header alike."""
    r = await client.get("/v1/tickets", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "abc-123" == r.json()["request_id"]
