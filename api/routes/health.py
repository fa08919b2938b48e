"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its services do)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout=3)
        return name, "ok"
    except Exception as exc:  # any failure means not ready; say which, not how
        return name, f"unavailable: {type(exc).__name__}"


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    results = dict(
        await asyncio.gather(
            _check("postgres", services.db.ping()),
            _check("redis", services.redis.ping()),
            _check("temporal", services.temporal.service_client.check_health()),
        )
    )
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": results},
        status_code=200 if ready else 503,
    )
