"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) that work offline.

FastAPI's own pages load their JavaScript and CSS from a CDN (and ReDoc its fonts from Google),
so a laptop without internet, or a locked-down network, shows a blank page. The same assets
ship inside the ``fastapi-offline`` package; this router serves them from there.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_ASSET_PATH = "/docs/assets"


def _asset_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


@router.get(f"{_ASSET_PATH}/{{name}}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        return Response(status_code=404)
    return FileResponse(
        _asset_dir() / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{_ASSET_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{_ASSET_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{_ASSET_PATH}/favicon.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{_ASSET_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{_ASSET_PATH}/favicon.png",
        with_google_fonts=False,
    )
