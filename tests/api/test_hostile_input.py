"""Hostile text: control characters, unpaired surrogates and blank required texts are
refused (422 naming the field, 404 for a path) by every operation, before anything is
written (issue 9, item 1; the rules are app/core/inputs.py's)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from app.core.inputs import InputModel, Text
from tests.api.conftest import create_ticket, new_key
from tests.factories import World, ticket_body

PROBLEM = "application/problem+json"
NUL = "x\u0000y"
HOSTILE = [NUL, "x\u0007", "x\u007f", "x\u0085", "x\ud800", "\udfff"]


def _send(body: Any) -> bytes:
    # ensure_ascii: a lone surrogate travels as the escape `\ud800`, as any JSON
    # library sends it (a raw one is not UTF-8).
    return json.dumps(body, ensure_ascii=True).encode()


JSON = {"Content-Type": "application/json"}


async def _counts(services: dict[str, str]) -> dict[str, int]:
    """The number of rows of every table: nothing may be half-written."""
    dsn = services["database_url"].replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        out: dict[str, int] = {}
        for row in tables:
            out[row["tablename"]] = await conn.fetchval(
                f'SELECT count(*) FROM "{row["tablename"]}"'
            )
        return out
    finally:
        await conn.close()


def _assert_names(r: httpx.Response, *loc: str | int) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith("/validation-error"), problem
    locs = [e["loc"] for e in problem["errors"]]
    assert any(tuple(x[-len(loc) :]) == loc for x in locs), (loc, locs)
    return problem


async def _ticket(client: httpx.AsyncClient, admin: dict[str, str], world: World) -> str:
    return str((await create_ticket(client, admin, world))["id"])


# -- The operations the issue names, each with a valid body first (it must pass) and
# -- then each hostile value in one of its texts.


async def _named_operations(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> list[tuple[str, str, dict[str, Any], tuple[str | int, ...]]]:
    """(method, path, valid body, path of the text field to spoil)."""
    tid = await _ticket(client, admin, world)
    u = uuid.uuid4().hex[:6]
    ticket = ticket_body(world, external_ref=f"EXT-{u}")
    return [
        ("POST", "/v1/tickets", ticket, ("subject",)),
        ("POST", "/v1/tickets", ticket, ("description",)),
        ("POST", "/v1/tickets", ticket, ("external_ref",)),
        ("PATCH", f"/v1/tickets/{tid}", {"subject": "新主题"}, ("subject",)),
        ("PATCH", f"/v1/tickets/{tid}", {"description": "新描述"}, ("description",)),
        ("POST", f"/v1/tickets/{tid}/comments", {"body": "已远程登录查看日志。"}, ("body",)),
        (
            "POST",
            "/v1/customers",
            {"branch_id": str(world.branch_id), "code": f"C-{u}", "name": "某银行"},
            ("name",),
        ),
        (
            "POST",
            "/v1/categories",
            {"code": f"c{u}", "name": "电源", "name_en": "Power"},
            ("name",),
        ),
        (
            "POST",
            "/v1/service-levels",
            {"code": f"s{u}", "name": "金牌", "name_en": "Gold"},
            ("name",),
        ),
        (
            "POST",
            "/v1/teams",
            {
                "code": f"T{u}",
                "name": "二线网络组",
                "line": "l2",
                "branch_id": str(world.branch_id),
            },
            ("name",),
        ),
        (
            "POST",
            "/v1/engineers",
            {
                "api_key_id": await new_key(client, admin),
                "name": "王磊",
                "line": "l2",
                "branch_id": str(world.branch_id),
                "skills": [{"kind": "product_family", "code": "switch"}],
            },
            ("skills", 0, "code"),
        ),
        (
            "POST",
            "/v1/sla-policies",
            {
                "service_level": f"s{u}",  # made by the service-levels operation above
                "name": "金牌服务承诺",
                "targets": [
                    {
                        "priority": "P1",
                        "metric": "first_response",
                        "minutes": 30,
                        "calendar_code": "24x7",
                    }
                ],
            },
            ("targets", 0, "calendar_code"),
        ),
        (
            "POST",
            "/v1/devices",
            {
                "customer_id": str(world.customer_id),
                "serial": f"SN-{u}",
                "model": "S5735",
                "product_family": "switch",
            },
            ("model",),
        ),
    ]


def _spoil(body: Any, path: tuple[str | int, ...], value: str) -> Any:
    out = json.loads(json.dumps(body))
    here = out
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = value
    return out


async def test_named_operations_refuse_control_characters_and_write_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    services: dict[str, str],
) -> None:
    ops = await _named_operations(client, admin, world)
    for method, path, body, field in ops:
        before = await _counts(services)
        for value in HOSTILE:
            r = await client.request(
                method, path, content=_send(_spoil(body, field, value)), headers={**admin, **JSON}
            )
            _assert_names(r, "body", *field)
        assert await _counts(services) == before, (method, path, field)
    # The bodies themselves are valid: sent clean, each operation succeeds.
    done: set[tuple[str, str]] = set()
    for method, path, body, _ in ops:
        if (method, path) in done:
            continue
        done.add((method, path))
        r = await client.request(method, path, json=body, headers=admin)
        assert r.status_code in (200, 201), (method, path, r.text)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tickets/by-number/%00",
        "/v1/tickets/by-number/T2026-%01",
        "/v1/calendars/by-code/%00",
        "/v1/categories/%00",
        "/v1/categories/a%0Ab",
        "/v1/sla-policies/%00",
        "/v1/customers/%C2%85",
    ],
)
async def test_a_control_character_in_the_path_is_a_404_problem(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    r = await client.get(path, headers=admin)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("/not-found")


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/customers?q=%00", "q"),
        ("/v1/devices?q=a%00b", "q"),
        ("/v1/tickets?q=%0A", "q"),
        ("/v1/tickets?category=hard%7Fware", "category"),
        ("/v1/contracts?number=%C2%9F", "number"),
        ("/v1/customers?active=true&q=%1F", "q"),
    ],
)
async def test_a_control_character_in_a_query_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, param: str
) -> None:
    r = await client.get(path, headers=admin)
    _assert_names(r, "query", param)


async def test_required_texts_must_not_be_blank(
    client: httpx.AsyncClient, admin: dict[str, str], world: World, services: dict[str, str]
) -> None:
    before = await _counts(services)
    for blank in ("   ", "\u3000", " \t "):
        r = await client.post("/v1/tickets", json=ticket_body(world, subject=blank), headers=admin)
        problem = _assert_names(r, "body", "subject")
        assert {e["type"] for e in problem["errors"]} <= {
            "string_blank",
            "string_control_character",
        }
    r = await client.post("/v1/tickets", json=ticket_body(world, subject="   "), headers=admin)
    assert r.json()["errors"][0]["type"] == "string_blank"
    assert await _counts(services) == before
    tid = await _ticket(client, admin, world)
    r = await client.patch(f"/v1/tickets/{tid}", json={"subject": "  "}, headers=admin)
    _assert_names(r, "body", "subject")
    r = await client.post(f"/v1/tickets/{tid}/comments", json={"body": " \n "}, headers=admin)
    _assert_names(r, "body", "body")
    # An optional text may be empty, and is kept as sent (never trimmed).
    r = await client.patch(
        f"/v1/tickets/{tid}", json={"subject": "  主题  ", "description": ""}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "  主题  " and r.json()["description"] == ""


async def test_line_breaks_only_in_multi_line_texts(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    text = "第一行\n第二行\r\n\t缩进"
    r = await client.post("/v1/tickets", json=ticket_body(world, description=text), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["description"] == text
    tid = r.json()["id"]
    r = await client.post(f"/v1/tickets/{tid}/comments", json={"body": text}, headers=admin)
    assert r.status_code == 201, r.text
    for field in ("subject", "external_ref", "affected_system", "product_version"):
        for char in ("\n", "\r", "\t"):
            r = await client.post(
                "/v1/tickets", json=ticket_body(world, **{field: f"a{char}b"}), headers=admin
            )
            problem = _assert_names(r, "body", field)
            assert "line break" in problem["errors"][0]["msg"]


# -- The generic sweep: every JSON body of every operation in the spec, a hostile value
# -- in each of its strings (nested ones included); every query parameter; every
# -- path parameter that is text.


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(spec, s) for s in schema[key]]
            return next((s for s in options if s.get("type") != "null"), options[0])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(spec, schema["allOf"][0])
    return schema


def _string_paths(
    spec: dict[str, Any], schema: dict[str, Any], prefix: tuple[str | int, ...], depth: int = 0
) -> list[tuple[str | int, ...]]:
    """Paths of the strings of a schema (enumerations, ids and times included: each
    refuses a hostile value with a 422 of its own, never a 500)."""
    schema = _resolve(spec, schema)
    if depth > 4:
        return []
    kind = schema.get("type")
    if kind == "string":
        return [prefix]
    if kind == "array" and "items" in schema:
        items = schema["items"]
        if isinstance(items, dict):
            return _string_paths(spec, items, (*prefix, 0), depth + 1)
    if kind == "object" or "properties" in schema:
        out: list[tuple[str | int, ...]] = []
        for name, sub in schema.get("properties", {}).items():
            out.extend(_string_paths(spec, sub, (*prefix, name), depth + 1))
        return out
    return []


def _put(body: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """`body` with `value` at `path`, making the containers on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{} if rest else None]
        items[0] = _put(items[0], rest, value)
        return items
    obj = dict(body) if isinstance(body, dict) else {}
    obj[head] = _put(obj.get(head), rest, value)
    return obj


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _fill(path: str, op: dict[str, Any], text: str = "x") -> str:
    for p in op.get("parameters", []):
        if p["in"] == "path":
            fmt = p.get("schema", {}).get("format")
            value = str(uuid.uuid4()) if fmt == "uuid" else text
            path = path.replace("{" + p["name"] + "}", value)
    return path


async def test_every_text_of_every_body_refuses_control_characters(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    services: dict[str, str],
) -> None:
    spec = (await client.get("/openapi.json")).json()
    before = await _counts(services)
    checked = 0
    for method, path, op in _operations(spec):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = _resolve(spec, content["application/json"]["schema"])
        example = schema.get("example") or {}
        url = _fill(path, op)
        for field in _string_paths(spec, schema, ()):
            for value in (NUL, "\ud800"):
                body = _put(example, field, value)
                r = await client.request(
                    method, url, content=_send(body), headers={**admin, **JSON}
                )
                assert r.status_code < 500, (method, path, field, r.text)
                _assert_names(r, "body", *field)
                checked += 1
    assert checked > 300, checked  # the sweep did cover the API
    assert await _counts(services) == before


async def test_every_query_parameter_refuses_control_characters(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, op in _operations(spec):
        for p in op.get("parameters", []):
            if p["in"] != "query":
                continue
            r = await client.request(
                method, _fill(path, op), params={p["name"]: NUL}, headers=admin
            )
            _assert_names(r, "query", p["name"])
            checked += 1
    assert checked > 40, checked


async def test_every_text_path_parameter_refuses_control_characters(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, op in _operations(spec):
        texts = [
            p
            for p in op.get("parameters", [])
            if p["in"] == "path" and p.get("schema", {}).get("format") != "uuid"
        ]
        if not texts:
            continue
        r = await client.request(method, _fill(path, op, "a%00b"), headers=admin)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"] == PROBLEM
        checked += 1
    assert checked >= 8, checked


# -- Free-form values: every nested string and key obeys the rules too.


class _Attributes(InputModel):
    name: str
    notes: Text = ""
    attributes: dict[str, Any] = {}
    tags: list[str] = []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"attributes": {"rack": {"slots": ["A1", "B\u0000"]}}}, ("attributes", "rack")),
        ({"attributes": {"k\u0000": 1}}, ("attributes", "k\u0000", "[key]")),
        ({"attributes": {"k\n": 1}}, ("attributes", "k\n", "[key]")),
        ({"attributes": {"v": "\ud83d"}}, ("attributes", "v")),
        ({"tags": ["ok", "b\u001b"]}, ("tags", 1)),
        ({"notes": "a\u000bb"}, ("notes",)),
        ({"name": "a\u2028"}, None),
    ],
)
def test_nested_free_form_values_are_checked(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    data = {"name": "n", **body}
    if loc is None:
        _Attributes.model_validate(data)  # a Unicode line separator is not a control
        return
    with pytest.raises(ValidationError) as caught:
        _Attributes.model_validate(data)
    assert [e["loc"] for e in caught.value.errors()] == [loc]


def test_texts_pass_unchanged() -> None:
    text = "核心交换机 «quoted» 😀 \u00a0 \t\n end "
    m = _Attributes.model_validate({"name": " 名 ", "notes": text, "attributes": {"a": text}})
    assert m.name == " 名 " and m.notes == text and m.attributes == {"a": text}


def _is_instant(spec: dict[str, Any], schema: dict[str, Any], path: tuple[str | int, ...]) -> bool:
    node: Any = schema
    for step in path:
        node = _resolve(spec, node)
        node = node["items"] if isinstance(step, int) else node.get("properties", {}).get(step, {})
    return _resolve(spec, node).get("format") == "date-time"


# Valid ISO 8601, but year 10000 (or 0) once in UTC: Python's astimezone overflows.
_BEYOND_UTC = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")


async def test_every_instant_out_of_range_in_utc_is_a_422(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    world: World,
    services: dict[str, str],
) -> None:
    spec = (await client.get("/openapi.json")).json()
    before = await _counts(services)
    checked = 0
    for method, path, op in _operations(spec):
        url = _fill(path, op)
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            schema = _resolve(spec, content["application/json"]["schema"])
            example = schema.get("example") or {}
            for field in _string_paths(spec, schema, ()):
                if not _is_instant(spec, schema, field):
                    continue
                for value in _BEYOND_UTC:
                    body = _put(example, field, value)
                    r = await client.request(
                        method, url, content=_send(body), headers={**admin, **JSON}
                    )
                    assert r.status_code < 500, (method, path, field, r.text)
                    checked += 1
        for p in op.get("parameters", []):
            if p["in"] == "query" and _resolve(spec, p.get("schema", {})).get("format") == (
                "date-time"
            ):
                for value in _BEYOND_UTC:
                    r = await client.request(method, url, params={p["name"]: value}, headers=admin)
                    assert r.status_code < 500, (method, path, p["name"], r.text)
                    checked += 1
    assert checked > 20, checked
    assert await _counts(services) == before
