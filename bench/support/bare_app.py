"""The baseline of bench/api_requests.py: a bare Starlette endpoint answering a page of
twenty companies from memory (no auth, no database, no middleware)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

NOW = datetime.now(UTC).isoformat()
ITEMS = [
    {
        "id": str(uuid.uuid4()),
        "name": f"Workspace {i}",
        "domain": None,
        "industry": None,
        "size": None,
        "status": "active",
        "is_default": False,
        "created": NOW,
        "updated": NOW,
    }
    for i in range(20)
]


async def companies(request: Request) -> JSONResponse:
    return JSONResponse({"items": ITEMS, "next_cursor": None})


app = Starlette(routes=[Route("/v1/companies", companies)])
