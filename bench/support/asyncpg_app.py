"""The database baseline of bench/api_requests.py: a bare Starlette endpoint that answers
the same page of companies as `GET /v1/companies?limit=20` with raw asyncpg.

One pooled connection of the application role, one transaction: `set_config` of the tenant
and the keyset select, under the same row-level security, against the same database and
tenant as the project; the same JSON. No authentication, no rate limits, no middleware, no
ORM. Configured by `BENCH_DSN` (the application role's URL) and `BENCH_TENANT_ID`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SELECT = (
    "SELECT id, name, domain, industry, size, status, is_default, created, updated "
    "FROM companies WHERE deleted IS NULL ORDER BY created, id LIMIT $1"
)
LIMIT = 20


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=10)
    app.state.tenant = os.environ["BENCH_TENANT_ID"]
    yield
    await app.state.pool.close()


def _item(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "name": row["name"],
        "domain": row["domain"],
        "industry": row["industry"],
        "size": row["size"],
        "id": str(row["id"]),
        "status": row["status"],
        "is_default": row["is_default"],
        "created": row["created"].isoformat(),
        "updated": row["updated"].isoformat(),
    }


async def companies(request: Request) -> JSONResponse:
    state = request.app.state
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.current_tenant_id', $1, true)", state.tenant)
        rows = await conn.fetch(SELECT, LIMIT + 1)
    more = len(rows) > LIMIT
    # The project's cursor is opaque; any string of the same shape serves the comparison.
    next_cursor = str(rows[LIMIT - 1]["id"]) if more else None
    return JSONResponse({"items": [_item(r) for r in rows[:LIMIT]], "next_cursor": next_cursor})


app = Starlette(routes=[Route("/v1/companies", companies)], lifespan=lifespan)
