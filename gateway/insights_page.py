"""``GET /insights/``: the HQ dashboard of the chain's KPIs (issue 14), in zh-CN and en.

A static page (``gateway/static/insights.html``) that calls the insights REST routes in the browser
with the user's bearer token (pasted into the page, or passed in the URL *fragment*
``#token=...&lang=zh-CN``, which never reaches a server or a log), and draws its charts with
plotly.js served from the ``plotly`` Python package (``/insights/assets/plotly.min.js``): no CDN
at run time. Public like ``/docs``: the page holds no data; every figure comes from the API under
the caller's token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "static" / "insights.html"
ASSETS_PREFIX = "/insights/assets"


def plotly_js() -> Path:
    """plotly.min.js as the plotly package ships it."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.js not found at {path}: install the `insights` extra")
    return path


def add_routes(app: Any) -> None:
    from aiohttp import web

    page = PAGE.read_bytes()
    script = plotly_js().read_bytes()

    async def dashboard(_request: web.Request) -> web.Response:
        return web.Response(
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={
                # Own scripts only: plotly.js from this gateway, the page's inline script.
                "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' "
                "'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/insights/")

    async def plotly(_request: web.Request) -> web.Response:
        return web.Response(
            body=script,
            content_type="application/javascript",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.router.add_get("/insights", redirect, allow_head=False)
    app.router.add_get("/insights/", dashboard, allow_head=False)
    app.router.add_get(f"{ASSETS_PREFIX}/plotly.min.js", plotly, allow_head=False)
