"""Swagger UI at /docs and ReDoc at /redoc, with their scripts served by csm itself (no CDN)."""
from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# The fastapi-offline package ships the Swagger UI and ReDoc bundles as plain files.
ASSETS = files("fastapi_offline") / "static"
ASSETS_URL = "/docs-assets"
# No validator badge: it would send the document to an outside service.
SWAGGER_UI = {"persistAuthorization": True, "validatorUrl": None}


def install(app: FastAPI) -> None:
    """Call with an app made with docs_url=None and redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    def where(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        return f"{root}{app.openapi_url}", f"{root}{ASSETS_URL}"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        spec, assets = where(request)
        return get_swagger_ui_html(
            openapi_url=spec, title=f"{app.title} — API", oauth2_redirect_url=None,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png", swagger_ui_parameters=SWAGGER_UI)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        spec, assets = where(request)
        return get_redoc_html(
            openapi_url=spec, title=f"{app.title} — API reference", with_google_fonts=False,
            redoc_js_url=f"{assets}/redoc.standalone.js", redoc_favicon_url=f"{assets}/favicon.png")
