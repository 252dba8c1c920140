"""A transaction PostgreSQL aborted because of another (deadlock, serialization failure,
lock timeout) is answered 503 `retry` with Retry-After, not 500."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
from starlette.requests import Request

from app.core.errors import _unhandled


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/v1/x", "headers": [],
                    "query_string": b"", "state": {}})  # fmt: skip


def test_a_deadlock_is_a_503_to_retry_and_a_bug_stays_a_500() -> None:
    class Wrapped(Exception):
        pass

    err = Wrapped("wrapped")
    err.__cause__ = asyncpg.DeadlockDetectedError("deadlock detected")
    r = asyncio.run(_unhandled(_request(), err))
    body = orjson.loads(r.body)
    assert r.status_code == 503 and body["type"].endswith("/retry")
    assert r.headers["Retry-After"] == "1"
    r = asyncio.run(_unhandled(_request(), RuntimeError("a bug")))
    assert r.status_code == 500
