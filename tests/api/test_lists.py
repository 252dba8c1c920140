"""Every list that can grow is a cursor page of one shape (`items`, `next_cursor`;
`limit`, `cursor`), the catalogue, branches, policies and API keys included."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import walk_pages
from tests.conftest import issue_key

# (path, the key each item is ordered by)
LISTS = [
    ("/v1/branches", "code"),
    ("/v1/categories", "code"),
    ("/v1/product-families", "code"),
    ("/v1/service-levels", "code"),
    ("/v1/sla-policies", "service_level"),
    ("/v1/escalation-policies", "service_level"),
    ("/v1/api-keys", "id"),
]


async def _some_rows(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """At least three rows in every list (the catalogue and SLA policies are seeded)."""
    for code in ("BJ", "SH", "GZ"):
        r = await client.post("/v1/branches", json={"code": code, "name": code}, headers=admin)
        assert r.status_code == 201, r.text
    body = {"failed_attempts": 3, "functional_on": "breach", "notify_levels": []}
    for level in ("*", "7x24", "5x8"):
        r = await client.put(f"/v1/escalation-policies/{level}", json=body, headers=admin)
        assert r.status_code in (200, 201), r.text  # "*" is seeded
    for role in ("agent", "manager"):
        await issue_key(role)


@pytest.mark.parametrize(("path", "key"), LISTS, ids=[p for p, _ in LISTS])
async def test_a_list_pages_in_its_order_without_gaps_or_repeats(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, key: str
) -> None:
    await _some_rows(client, admin)
    whole = await client.get(path, params={"limit": 200}, headers=admin)
    assert whole.status_code == 200, whole.text
    everything = whole.json()
    assert everything["next_cursor"] is None and len(everything["items"]) >= 3
    paged = await walk_pages(client, admin, path)
    assert paged == everything["items"]
    keys = [item[key] for item in paged]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(("path", "key"), LISTS, ids=[p for p, _ in LISTS])
async def test_a_bad_cursor_is_a_400_problem(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, key: str
) -> None:
    for cursor in ("not-a-cursor", "WyIiXQ", "e30"):  # garbage, [""] and {}
        r = await client.get(path, params={"cursor": cursor}, headers=admin)
        assert r.status_code == 400, (cursor, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(path, params={"limit": 0}, headers=admin)
    assert r.status_code == 422
