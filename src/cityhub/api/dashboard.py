"""The dashboard's files (docs/dashboard.md): the page at `/`, its modules at `/app/...`, and
MapLibre GL JS, installed from npm into `src/cityhub/web/node_modules`, at `/vendor/maplibre-gl/`.

The page talks to the hub only through the public HTTP API. When the npm step has not been run
the page at `/` says so, instead of a blank map.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"
MAPLIBRE = WEB / "node_modules" / "maplibre-gl" / "dist"

MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CityHub dashboard: set-up needed</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#10202f}code{background:#eef2f6;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>The dashboard needs its map library</h1>
<p>MapLibre GL JS is installed from npm and is not there yet. In the CityHub checkout run</p>
<p><code>npm ci --prefix src/cityhub/web</code></p>
<p>and reload this page. The API works meanwhile:
<a href="/ngsi-ld/v1/types">/ngsi-ld/v1/types</a>.</p>
</body></html>"""


async def index(request: Request) -> Response:
    if not (MAPLIBRE / "maplibre-gl.mjs").is_file():
        return HTMLResponse(MISSING, status_code=503)
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/", index, methods=["GET", "HEAD"]),
    Mount("/app", StaticFiles(directory=WEB / "app")),
    Mount("/vendor/maplibre-gl", StaticFiles(directory=MAPLIBRE, check_dir=False)),
]
