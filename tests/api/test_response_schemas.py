"""What the API answers is what the spec says, as a strict client reads it: each success
body of a scenario that touches the main kinds validates against its operation's schema
(formats included), every required field is there, and every field that is there is
required (so a generated TypeScript client need not test for `undefined`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.api.conftest import make_engineer, make_shift
from tests.factories import World, ticket_body

SPEC_URI = "urn:supportline:openapi"


def _absolute(node: Any) -> Any:
    """The spec with every `#/...` reference made absolute, so that any schema inside it
    can be validated on its own."""
    if isinstance(node, dict):
        return {
            k: f"{SPEC_URI}{v}" if k == "$ref" and v.startswith("#") else _absolute(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node


class SpecChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        spec = _absolute(spec)
        self.spec = spec
        self.registry: Registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        self.routes = sorted(
            (
                (path.count("{"), re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
                for path in spec["paths"]
            ),
            key=lambda r: r[0],
        )  # literal paths first, as the server matches them
        self.checked: list[str] = []
        self.failures: list[str] = []

    def _schema_of(self, method: str, url_path: str, status: int) -> tuple[str, dict[str, Any]]:
        template = next(p for _, rx, p in self.routes if rx.match(url_path))
        op = self.spec["paths"][template][method.lower()]
        content = op["responses"][str(status)]["content"]["application/json"]
        return f"{method} {template} {status}", content["schema"]

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(
            schema,
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"].split("#", 1)[1]
            node: Any = self.spec
            for part in ref.strip("/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return schema

    def _all_present_required(self, where: str, value: Any, schema: dict[str, Any]) -> None:
        schema = self._resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self._resolve(s) for s in schema[key]]
                fitting = [b for b in branches if self._validator(b).is_valid(value)]
                for b in fitting[:1]:
                    self._all_present_required(where, value, b)
        for sub in schema.get("allOf", []):
            self._all_present_required(where, value, sub)
        if isinstance(value, dict) and "properties" in schema:
            optional = set(value) - set(schema.get("required", []))
            if optional:
                title = schema.get("title", "?")
                self.failures.append(f"{where}: {title} sends {sorted(optional)}, not required")
            for name, sub in schema["properties"].items():
                if name in value:
                    self._all_present_required(f"{where}.{name}", value[name], sub)
        if isinstance(value, list) and "items" in schema:
            for item in value[:3]:
                self._all_present_required(f"{where}[]", item, schema["items"])

    def check(self, response: httpx.Response) -> None:
        if not 200 <= response.status_code < 300 or response.status_code == 204:
            return
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        request = response.request
        where, schema = self._schema_of(request.method, request.url.path, response.status_code)
        body = response.json()
        self.checked.append(where)
        for error in self._validator(schema).iter_errors(body):
            path = "/".join(str(p) for p in error.absolute_path)
            self.failures.append(f"{where} [{path}]: {error.message[:200]}")
        self._all_present_required(where, body, schema)


@pytest.fixture
async def checked(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, SpecChecker]]:
    checker = SpecChecker(app.openapi())

    async def hook(response: httpx.Response) -> None:
        await response.aread()
        checker.check(response)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [hook]}
    ) as c:
        yield c, checker


async def test_every_answer_of_the_main_kinds_is_as_the_spec_says(
    checked: tuple[httpx.AsyncClient, SpecChecker], admin: dict[str, str], world: World
) -> None:
    client, checker = checked

    async def ok(method: str, url: str, **kw: Any) -> Any:
        r = await client.request(method, url, headers=admin, **kw)
        assert r.status_code < 300, (method, url, r.text)
        return r.json() if r.content else None

    await ok("GET", "/v1/me")
    ticket = await ok("POST", "/v1/tickets", json=ticket_body(world))
    tid = ticket["id"]
    await ok("GET", f"/v1/tickets/{tid}")
    await ok("POST", f"/v1/tickets/{tid}/comments", json={"body": "已电话联系客户"})
    await ok("GET", f"/v1/tickets/{tid}/comments")
    await ok("GET", f"/v1/tickets/{tid}/events")
    await ok("GET", f"/v1/tickets/{tid}/clocks")
    await ok("GET", "/v1/tickets")
    await ok("GET", f"/v1/tickets/by-number/{ticket['number']}")

    e = await make_engineer(
        client, admin, world.branch_id,
        skills=[{"kind": "product_family", "code": "switch", "level": 4}],
    )  # fmt: skip
    await make_shift(client, admin, e["id"], weekday=0, starts="09:00", ends="18:00")
    await ok("GET", f"/v1/engineers/{e['id']}")
    await ok("GET", f"/v1/engineers/{e['id']}/shifts")
    await ok("GET", "/v1/engineers")
    await ok("GET", "/v1/duty", params={"at": "2026-03-02T10:00:00+08:00"})
    await ok("POST", f"/v1/tickets/{tid}/assign", json={"owner_id": e["id"]})

    await ok(
        "POST", "/v1/incidents",
        json={"title": "华东区核心交换机批量宕机", "product_family": "switch", "ticket_ids": [tid]},
    )  # fmt: skip
    await ok("GET", "/v1/incidents")
    body = {"failed_attempts": 3, "functional_on": "breach",
            "notify_levels": [{"level": 1, "after": "warning", "recipients": ["team_manager"]}]}  # fmt: skip
    await ok("PUT", "/v1/escalation-policies/7x24", json=body)
    for path in (
        "/v1/customers", f"/v1/customers/{world.customer_id}", "/v1/devices",
        f"/v1/devices/{world.device_id}", f"/v1/contracts/{world.contract_id}",
        "/v1/calendars", "/v1/calendars/by-code/cn-5x8", "/v1/branches",
        f"/v1/branches/{world.branch_id}", "/v1/categories", "/v1/categories/hardware",
        "/v1/product-families", "/v1/service-levels", "/v1/sla-policies",
        "/v1/sla-policies/7x24", "/v1/escalation-policies", "/v1/api-keys",
    ):  # fmt: skip
        await ok("GET", path)

    assert len(checker.checked) >= 35, checker.checked
    assert not checker.failures, "\n".join(checker.failures)


async def test_the_checker_sees_a_field_that_is_sent_but_not_required(
    app: Any, admin: dict[str, str], world: World
) -> None:
    """Guards the test above: with the ticket's `sla` made optional in the spec, the
    same answer is caught."""
    spec = app.openapi()
    schema = spec["components"]["schemas"]["TicketOut"]
    loose = {**spec, "components": {**spec["components"], "schemas": {
        **spec["components"]["schemas"],
        "TicketOut": {**schema, "required": [f for f in schema["required"] if f != "sla"]},
    }}}  # fmt: skip
    checker = SpecChecker(loose)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
        checker.check(r)
    assert checker.failures == ["POST /v1/tickets 201: TicketOut sends ['sla'], not required"], (
        checker.failures
    )
