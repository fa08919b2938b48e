"""The framework floor of bench/api_requests.py: the asyncpg baseline's SQL and JSON behind
FastAPI instead of bare Starlette.

The same pool, transaction, `set_config`, select and items as bench/support/asyncpg_app.py,
with the connection handed to the route by a `yield` dependency and `limit` read as a typed
query parameter, the way a FastAPI route receives them. No authentication, no rate limits,
no middleware, no ORM: the distance from this line to the asyncpg line is what FastAPI itself
costs, and the distance from the project's line to this one is what the project adds
(authentication, rate limits, request ids, logging, the session layer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response

from bench.support.asyncpg_app import SELECT, _item, lifespan


async def tenant_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    state = request.app.state
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.current_tenant_id', $1, true)", state.tenant)
        yield conn


app = FastAPI(lifespan=lifespan)


@app.get("/v1/companies")
async def companies(
    conn: Annotated[asyncpg.Connection, Depends(tenant_connection)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    rows = await conn.fetch(SELECT, limit + 1)
    more = len(rows) > limit
    next_cursor = str(rows[limit - 1]["id"]) if more else None
    body = {"items": [_item(r) for r in rows[:limit]], "next_cursor": next_cursor}
    return Response(orjson.dumps(body), media_type="application/json")
