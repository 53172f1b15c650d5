"""The browser UI at ``/ui``: static HTML, JS and CSS shipped in the package.

No build step and no network fetches: the files under ``ui/`` (a page, plain JS
modules and a stylesheet) are read from the installed package and served as they
are. The page asks for an API key, keeps it in ``sessionStorage`` and calls the
same ``/v1`` API as every other client, so the UI itself needs no authentication:
it holds no data.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

__all__ = ["ui_router"]

# The assets the page is made of, and the media type each is served with.
# A fixed table, never a path taken from the request: nothing else is reachable.
_ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}

# The page loads only its own files and talks only to its own origin; no inline
# script, no framing. Everything the page shows from data goes in as text.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _read(name: str) -> bytes:
    return resources.files("tether.server").joinpath("ui", name).read_bytes()


def ui_router() -> APIRouter:
    """Routes serving the UI: ``/ui`` (the page) and ``/ui/{asset}`` (its JS modules and CSS)."""
    router = APIRouter(include_in_schema=False)
    headers = {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }

    @router.get("/ui")
    async def ui_page() -> Response:
        return Response(_read("index.html"), media_type=_ASSETS["index.html"], headers=headers)

    @router.get("/ui/")
    async def ui_slash() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=308)

    @router.get("/ui/{asset}")
    async def ui_asset(asset: str) -> Response:
        media_type = _ASSETS.get(asset)
        if media_type is None or asset == "index.html":
            raise HTTPException(status_code=404, detail=f"no UI asset named {asset!r}")
        return Response(_read(asset), media_type=media_type, headers=headers)

    return router
