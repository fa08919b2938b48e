"""The baseline of bench/tracking.py: a bare Starlette endpoint answering the same 1x1 GIF
with the same headers (no token, no Redis, no middleware)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.tracking import GIF

HEADERS = {
    "cache-control": "no-store, no-cache, must-revalidate, private",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}


async def pixel(request: Request) -> Response:
    return Response(GIF, media_type="image/gif", headers=HEADERS)


app = Starlette(routes=[Route("/t/o/{token}", pixel)])
