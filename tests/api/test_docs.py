"""The docs pages work without the internet: every script, style and icon they load is
served by the API itself (a support centre's intranet has no CDN)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

# src=/href= of <script>, <link>, <img>; `url:` / spec-url= is the spec Swagger UI loads.
_REFERENCES = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
_ABSOLUTE = re.compile(r"""["'(](?:https?:)?//[^"')\s]+""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCES.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_docs_page_loads_everything_from_this_server(
    client: httpx.AsyncClient, page: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _references(r.text)
    assert any(ref.endswith(".js") for ref in refs), refs
    assert "/openapi.json" in refs
    # No outside host anywhere in the page, referenced or not.
    assert not _ABSOLUTE.findall(r.text), _ABSOLUTE.findall(r.text)
    for ref in refs:
        url = urljoin(f"http://testserver{page}", ref)
        assert urlsplit(url).netloc == "testserver", ref
        asset = await client.get(url)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 1000, ref


async def test_the_swagger_ui_asks_no_outside_validator(client: httpx.AsyncClient) -> None:
    """Swagger UI's default badge fetches validator.swagger.io with the spec's URL."""
    r = await client.get("/docs")
    assert '"validatorUrl": null' in r.text


async def test_only_the_docs_assets_are_served(client: httpx.AsyncClient) -> None:
    for name in ("core.py", "..%2F__init__.py", "swagger-ui.css.map"):
        r = await client.get(f"/docs/assets/{name}")
        assert r.status_code == 404, name
    r = await client.get("/docs/assets/swagger-ui.css")
    assert r.headers["content-type"].startswith("text/css")
    assert "max-age" in r.headers["cache-control"]
