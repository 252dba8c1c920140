"""The OpenAPI document as clients read it: FastAPI's generated spec plus what FastAPI
cannot know (the key schemes our own dependencies check, the Problem shape of errors,
clean component names), made once and cached on the app."""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.core.errors import Problem
from app.core.inputs import InputModel
from app.core.outputs import OutputModel
from app.core.querymodel import spec_dependant

CONTACT = {"name": "Supportline maintainers"}
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
# Relative: "Try it out" on /docs calls the server that serves the docs, wherever it runs
# (an intranet host name, a reverse proxy's root path).
SERVERS = [{"url": "/", "description": "The server this document is served from."}]

# pydantic names `Page[CustomerOut]` `Page_CustomerOut_`; a generated client makes an
# awkward type of it. The spec calls it `CustomerPage`.
_GENERIC_PAGE = re.compile(r"^Page_(\w+?)(?:Out)?_$")


def build_openapi(
    app: FastAPI, schemes: dict[str, Any], requirement: list[dict[str, list[str]]]
) -> dict[str, Any]:
    """The spec, with `schemes` declared and `requirement` on every operation whose
    dependencies authenticate (the app passes them: core knows no domain)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=[_spec_route(r) for r in app.routes],
        tags=app.openapi_tags,
        servers=SERVERS,
        contact=CONTACT,
        license_info=LICENSE,
    )
    _declare_security(app, schema, schemes, requirement)
    _problem_errors(schema)
    _restore_examples(schema)
    _rename_pages(schema)
    app.openapi_schema = schema
    return schema


def _spec_route(route: Any) -> Any:
    """The route as the spec describes it: query models read by `query_model` are
    declared as FastAPI's own (app/core/querymodel.py)."""
    if not isinstance(route, APIRoute):
        return route
    dependant = spec_dependant(route.dependant, route.path_format)
    if dependant is route.dependant:
        return route
    twin = copy.copy(route)
    twin.dependant = dependant
    return twin


def _problem_errors(schema: dict[str, Any]) -> None:
    """Every 4xx/5xx is `application/problem+json` with the Problem schema; FastAPI's
    default 422 schema is replaced by it everywhere."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in components["Problem"].pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path in schema.get("paths", {}).values():
        for op in path.values():
            resp = op.get("responses", {})
            if "422" in resp:
                resp["422"] = {
                    "description": resp["422"].get("description", "Validation failed."),
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            for code, r in resp.items():
                if code.startswith(("4", "5")) and "content" in r:
                    r["content"].pop("application/json", None)


def _models() -> dict[str, type[BaseModel]]:
    """Every request and response model by class name (names are unique in the spec,
    tests/test_openapi_examples.py checks it)."""
    found: dict[str, type[BaseModel]] = {}
    stack: list[type[BaseModel]] = [InputModel, OutputModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            stack.append(sub)
    return found


def _restore_examples(schema: dict[str, Any]) -> None:
    """FastAPI writes the spec with `exclude_none`, which drops every null from the
    examples, so `{"vendor": null}` came out without `vendor`, a required field, and the
    example did not validate. The examples are put back as the models declare them."""
    models = _models()
    for name, component in schema["components"]["schemas"].items():
        model = models.get(name)
        if model is None:
            continue
        source = model.model_json_schema()
        _copy_examples(source, component)
        for field, sub in component.get("properties", {}).items():
            _copy_examples(source.get("properties", {}).get(field, {}), sub)


def _copy_examples(source: dict[str, Any], target: dict[str, Any]) -> None:
    for key in ("example", "examples"):
        if key in source and key in target:
            target[key] = jsonable_encoder(source[key])


def _rename_pages(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    renames = {old: f"{m.group(1)}Page" for old in components if (m := _GENERIC_PAGE.match(old))}
    if not renames:
        return
    for old, new in renames.items():
        if new in components:
            raise RuntimeError(f"OpenAPI: {old} would be renamed {new}, which exists")
        components[new] = components.pop(old)
        components[new]["title"] = new
    refs = {f"#/components/schemas/{o}": f"#/components/schemas/{n}" for o, n in renames.items()}
    _rewrite_refs(schema, refs)
    schema["components"]["schemas"] = dict(sorted(components.items()))


def _rewrite_refs(node: Any, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        for value in node.values():
            _rewrite_refs(value, refs)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, refs)


def _authenticates(dependant: Any) -> bool:
    call = getattr(dependant, "call", None)
    if getattr(call, "__supportline_authenticates__", False):
        return True
    return any(_authenticates(d) for d in dependant.dependencies)


def _declare_security(
    app: FastAPI,
    schema: dict[str, Any],
    schemes: dict[str, Any],
    requirement: list[dict[str, list[str]]],
) -> None:
    """The key schemes on every operation whose dependencies authenticate (they read the
    headers themselves, so FastAPI does not see them: app/access/deps.py says why)."""
    schema.setdefault("components", {})["securitySchemes"] = schemes
    paths = schema.get("paths", {})
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        needs_key = _authenticates(route.dependant)
        for method in route.methods or ():
            op = paths.get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            security = requirement if needs_key else []
            items = [(k, v) for k, v in op.items() if k != "security"]
            at = next(i for i, (k, _) in enumerate(items) if k == "operationId") + 1
            items.insert(at, ("security", security))
            op.clear()
            op.update(items)
