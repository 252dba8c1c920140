"""Dispatch by index (app/core/routing.py), authentication in one dependency
(app/access/deps.py) and the ticket list's query model: what clients see of them."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute

from app.core.routing import RouteIndex
from tests.factories import World, ticket_body


async def test_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=admin)
    assert r.status_code == 201, r.text
    r = await client.delete(f"/v1/tickets/{r.json()['id']}", headers=admin)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == "GET, PATCH"


async def test_paths_outside_every_bucket_still_answer(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get("/v1/no-such-thing/at-all", headers=admin)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/healthz")).status_code == 200


def test_the_index_offers_every_route_a_full_scan_would_match(app: Any) -> None:
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    index = RouteIndex(app.router.routes)
    for route in routes:
        # A concrete path of the route's shape: each parameter replaced by a value.
        path = route.path_format
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", "0192f3c4-0000-7000-8000-000000000000")
        assert route in index.candidates(path), route.path


async def test_the_key_is_read_once_whichever_dependency_asks_first(
    client: httpx.AsyncClient, admin: dict[str, str], world: World
) -> None:
    # createTicket authenticates in its permission check and in Idempotency-Key handling.
    key = admin["Authorization"].split(" ", 1)[1]
    h = {"X-API-Key": key, "Idempotency-Key": "k-dispatch"}
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post("/v1/tickets", json=ticket_body(world), headers=h)
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
    r = await client.get("/v1/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_the_spec_declares_the_key_schemes_where_a_key_is_needed(app: Any) -> None:
    spec = app.openapi()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            # The survey links are answered without a key (a signed token in the path),
            # a webhook source's posts with the source's own credentials.
            public = (
                not path.startswith("/v1/")
                or path.startswith("/v1/surveys/")
                or path == "/v1/hooks/{key}"
            )
            expected = (
                []
                if public
                else [
                    {"HTTPBearer": []},
                    {"APIKeyHeader": []},
                ]
            )
            assert op["security"] == expected, (method, path)


async def test_list_query_errors_name_the_parameter(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get("/v1/tickets?customer_id=nope&limit=0", headers=admin)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    locs = sorted(e["loc"] for e in r.json()["errors"])
    assert locs == [["query", "customer_id"], ["query", "limit"]]
