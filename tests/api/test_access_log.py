"""The access line a person reads (plain text) and the one a machine reads (JSON): method,
path, status, duration, the request's principal and request id, and the ticket when the
request names one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson

from app.core.logging import JsonFormatter, TextFormatter
from tests.factories import build_world, ticket_body


@contextmanager
def _access_lines() -> Iterator[dict[str, list[str]]]:
    """The access logger's lines, formatted both ways."""
    lines: dict[str, list[str]] = {"text": [], "json": []}
    text, json = TextFormatter(), JsonFormatter()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines["text"].append(text.format(record))
            lines["json"].append(json.format(record))

    logger = logging.getLogger("supportline.access")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


_TEXT = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO access (?P<method>[A-Z]+) (?P<path>\S+) "
    r"(?P<status>\d{3}) (?P<ms>\d+\.\d)ms(?P<rest>.*)$"
)


async def test_access_lines_name_request_principal_and_ticket(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    me = (await client.get("/v1/me", headers=admin)).json()
    world = await build_world()
    with _access_lines() as lines:
        r = await client.post(
            "/v1/tickets",
            json=ticket_body(world),
            headers={**admin, "X-Request-ID": "req-create-1"},
        )
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
        r = await client.get("/v1/tickets", headers={"X-Request-ID": "req-anon-2"})
        assert r.status_code == 401
        # A route that does not set the ticket itself: the id in its path is logged.
        r = await client.get(f"/v1/tickets/{ticket_id}/handoffs", headers=admin)
        assert r.status_code == 200, r.text

    created, anonymous, handoffs = lines["text"]
    assert f" ticket={ticket_id} rid=" in handoffs, handoffs
    m = _TEXT.match(created)
    assert m, created
    assert (m["method"], m["path"], m["status"]) == ("POST", "/v1/tickets", "201")
    assert m["rest"] == f" principal={me['id']} ticket={ticket_id} rid=req-create-1", created
    m = _TEXT.match(anonymous)
    assert m and m["status"] == "401", anonymous
    assert m["rest"] == " principal=- rid=req-anon-2", anonymous

    created_json, anonymous_json, _ = (orjson.loads(line) for line in lines["json"])
    assert {k: created_json[k] for k in ("method", "path", "status", "principal")} == {
        "method": "POST",
        "path": "/v1/tickets",
        "status": 201,
        "principal": me["id"],
    }
    assert created_json["request_id"] == "req-create-1"
    assert created_json["ticket_id"] == ticket_id
    assert isinstance(created_json["duration_ms"], float) and created_json["duration_ms"] > 0
    assert created_json["msg"] == created.split(" INFO access ", 1)[1].split(" principal=")[0]
    assert anonymous_json["principal"] is None and anonymous_json["status"] == 401
    assert anonymous_json["request_id"] == "req-anon-2" and "ticket_id" not in anonymous_json


async def test_a_path_cannot_forge_a_log_line(client: httpx.AsyncClient) -> None:
    with _access_lines() as lines:
        await client.get("/v1/x%0A2026-01-01 00:00:00 INFO access GET /fake 200 principal=x")
    (line,) = lines["text"]
    assert "\n" not in line and " /v1/x%0A2026-01-01%2000:00:00%20INFO" in line
