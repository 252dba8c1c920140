"""The spec as a strict client reads it: every example validates against its schema
(with format checking), component names are clean, and the documented rules hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.main import create_app

SPEC_URI = "urn:supportline:openapi"
# Keywords whose value is a schema, a list of schemas or a map of name to schema.
_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _validator(spec: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _schema_examples(schema: Any, pointer: str) -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, example) for a schema and every schema inside it."""
    if not isinstance(schema, dict):
        return
    if "example" in schema:
        yield pointer, pointer, schema["example"]
    for i, value in enumerate(schema.get("examples", [])):
        yield f"{pointer}/examples/{i}", pointer, value
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield from _schema_examples(schema[key], f"{pointer}/{key}")
    for key in _MANY:
        for i, sub in enumerate(schema.get(key, [])):
            yield from _schema_examples(sub, f"{pointer}/{key}/{i}")
    for key in _MAP:
        for name, sub in schema.get(key, {}).items():
            yield from _schema_examples(sub, f"{pointer}/{key}/{_escape(name)}")


def _holder_examples(holder: dict[str, Any], pointer: str) -> Iterator[tuple[str, str, Any]]:
    """A parameter or media type object: its own `example` / `examples` (a map of
    Example objects) are of its `schema`, and the schema may carry its own."""
    if "schema" not in holder:
        return
    at = f"{pointer}/schema"
    if "example" in holder:
        yield f"{pointer}/example", at, holder["example"]
    for name, example in holder.get("examples", {}).items():
        if "value" in example:
            yield f"{pointer}/examples/{_escape(name)}", at, example["value"]
    yield from _schema_examples(holder["schema"], at)


def all_examples(spec: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for name, schema in spec["components"]["schemas"].items():
        yield from _schema_examples(schema, f"/components/schemas/{_escape(name)}")
    for path, item in spec["paths"].items():
        for method, op in item.items():
            at = f"/paths/{_escape(path)}/{method}"
            for i, param in enumerate(op.get("parameters", [])):
                yield from _holder_examples(param, f"{at}/parameters/{i}")
            bodies = [("requestBody", op.get("requestBody", {}))] + [
                (f"responses/{code}", r) for code, r in op.get("responses", {}).items()
            ]
            for where, body in bodies:
                for media, holder in body.get("content", {}).items():
                    yield from _holder_examples(holder, f"{at}/{where}/content/{_escape(media)}")


def test_the_walk_finds_the_examples(spec: dict[str, Any]) -> None:
    """Guards the test below against walking nothing."""
    found = list(all_examples(spec))
    assert len(found) > 80
    assert any(where.startswith("/components/schemas/TicketCreate") for where, _, _ in found)
    assert any("/parameters/" in where for where, _, _ in found)


def test_every_example_validates_against_its_schema(spec: dict[str, Any]) -> None:
    failures = []
    for where, pointer, example in all_examples(spec):
        for error in _validator(spec, pointer).iter_errors(example):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{where} [{path}]: {error.message[:200]}")
    assert not failures, f"{len(failures)} invalid examples:\n" + "\n".join(failures)


def test_a_broken_example_is_caught(spec: dict[str, Any]) -> None:
    """The validator checks formats and required fields, not only types."""
    pointer = "/components/schemas/ShiftOut"
    good = spec["components"]["schemas"]["ShiftOut"]["example"]
    assert _validator(spec, pointer).is_valid(good)
    assert not _validator(spec, pointer).is_valid({**good, "created_at": "yesterday"})
    assert not _validator(spec, pointer).is_valid({**good, "starts": "09:00:00"})
    missing = {k: v for k, v in good.items() if k != "valid_until"}
    assert not _validator(spec, pointer).is_valid(missing)


def test_component_names_are_clean(spec: dict[str, Any]) -> None:
    """No Python module paths (`app__tickets__schemas__ResolveBody`, from two classes of
    one name) and no `-Input` / `-Output` twins: each name is a plain identifier."""
    for name in spec["components"]["schemas"]:
        assert name.isidentifier() and "__" not in name and not name.startswith("_"), name


def test_ticket_create_says_what_it_needs_to_know_the_priority(spec: dict[str, Any]) -> None:
    pointer = "/components/schemas/TicketCreate"
    example = spec["components"]["schemas"]["TicketCreate"]["example"]
    base = {k: v for k, v in example.items() if k not in {"priority", "impact", "urgency"}}
    valid = _validator(spec, pointer).is_valid
    assert not valid(base)
    assert not valid({**base, "impact": "high"})
    assert not valid({**base, "priority": None, "urgency": "high"})
    assert valid({**base, "priority": "P2"})
    assert valid({**base, "impact": "high", "urgency": "low"})
    assert valid({**base, "priority": None, "impact": "high", "urgency": "low"})


def test_the_channel_header_is_an_enumeration(spec: dict[str, Any]) -> None:
    params = spec["paths"]["/v1/tickets/{ticket_id}/acknowledge"]["post"]["parameters"]
    channel = next(p for p in params if p["name"].lower() == "x-channel")
    assert "api" in channel["schema"]["enum"] and "phone" in channel["schema"]["enum"]


def test_the_document_names_its_server_licence_and_contact(spec: dict[str, Any]) -> None:
    assert spec["servers"] and spec["servers"][0]["url"]
    assert spec["info"]["license"]["identifier"] == "Apache-2.0"
    assert spec["info"]["contact"]["name"]
