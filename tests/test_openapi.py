"""The OpenAPI spec is a product: every operation documented, typed and stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]


def test_every_operation_has_unique_id_tag_and_summary(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids))
    for path, method, op in _operations(spec):
        assert op.get("tags"), (path, method)
        assert op.get("summary"), (path, method)
        assert op["operationId"][0].islower() and "_" not in op["operationId"], op["operationId"]


def test_every_v1_operation_types_its_errors_as_problems(spec: dict[str, Any]) -> None:
    for path, method, op in _operations(spec):
        if not path.startswith("/v1"):
            continue
        errors = {k: v for k, v in op["responses"].items() if k[0] in "45"}
        if op.get("security") != []:  # a public operation (the survey link) takes no key
            assert "401" in errors, (path, method)
        for code, response in errors.items():
            content = response["content"]
            assert list(content) == ["application/problem+json"], (path, method, code)
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_every_json_request_body_has_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for path, method, op in _operations(spec):
        body = op.get("requestBody")
        if not body or "application/json" not in body["content"]:
            continue
        ref = body["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[-1]]
        assert "example" in schema or "examples" in schema, (path, method, ref)


def test_committed_spec_matches_the_app(spec: dict[str, Any]) -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == spec, "openapi/openapi.json drifted: run `make openapi` and commit it"


# Lists answered whole, each named with its reason in docs/api-guide.md ("Pagination").
WHOLE_LISTS = {
    "/v1/duty",
    "/v1/tickets/{ticket_id}/clocks",
    "/v1/tickets/{ticket_id}/attempts",
    "/v1/tickets/{ticket_id}/visits",
    "/v1/tickets/{ticket_id}/attachments",
    "/v1/tickets/{ticket_id}/handoffs",
    "/v1/tickets/{ticket_id}/escalations",
    "/v1/incidents/{incident_id}/updates",
}


def test_every_list_is_a_cursor_page_or_a_documented_exception(spec: dict[str, Any]) -> None:
    guide = (ROOT / "docs" / "api-guide.md").read_text(encoding="utf-8")
    schemas = spec["components"]["schemas"]
    pages = 0
    for path, method, op in _operations(spec):
        content = op["responses"].get("200", {}).get("content", {}).get("application/json")
        if method != "get" or content is None:
            continue
        schema = content["schema"]
        if schema.get("type") == "array":
            assert path in WHOLE_LISTS, f"{path} answers a plain array: make it a Page"
            assert f"`{path.removeprefix('/v1')}`" in guide, f"{path}: say why in the guide"
            continue
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if not name.endswith("Page"):
            continue
        pages += 1
        assert set(schemas[name]["properties"]) == {"items", "next_cursor"}, name
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert {"limit", "cursor"} <= params, (path, params)
    assert pages >= 20
