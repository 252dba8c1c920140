"""The docs pages (/docs: Swagger UI, /redoc: ReDoc) with their scripts and styles served
by the API itself, from the files the `fastapi-offline` package ships: on a support
centre's intranet, without a CDN, the pages still work.

Not `fastapi_offline.FastAPIOffline` itself: it is a factory of a plain FastAPI (the app
is a FastAPI subclass, app/main.py) and serves the files through a `Mount`, which the
dispatch by index (app/core/routing.py) would try on every request. The assets are one
route whose first two segments are literal (`/docs/assets/{name}`), so only requests for
them look at it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.core.errors import NotFound

ASSETS_PATH = "/docs/assets"
_STATIC = Path(str(files("fastapi_offline") / "static"))
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
# The files change only with the package's version: let browsers keep them a day.
_CACHE = {"Cache-Control": "public, max-age=86400"}
# Swagger UI would otherwise ask validator.swagger.io for a badge about the spec.
_SWAGGER_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI) -> None:
    """Adds /docs, /redoc and their assets; the app must be made with docs_url=None and
    redoc_url=None (FastAPI's own pages load the assets from a CDN)."""

    def asset_url(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(request, "swagger-ui.css"),
            swagger_favicon_url=asset_url(request, "favicon.png"),
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset_url(request, "redoc.standalone.js"),
            redoc_favicon_url=asset_url(request, "favicon.png"),
            with_google_fonts=False,
        )

    @app.get(f"{ASSETS_PATH}/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound("No such docs asset.")
        return FileResponse(_STATIC / name, media_type=media_type, headers=_CACHE)
