"""Warmups of mailboxes and IPs: start one with a ramp curve, list, read, and pause,
resume or stop it (updates of its workflow: the answer is the state after)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.warmups import (
    WarmupAccepted,
    WarmupCommandResult,
    WarmupCreate,
    WarmupPublic,
)
from penguinmails.repositories.warmups import WarmupExists, WarmupRepository, WarmupTargetNotFound
from penguinmails.warmup import RampCurve
from usecases.warmups import WarmupNotFound, WarmupRefused, command_warmup, start_warmup

router = APIRouter(prefix="/v1/warmups", tags=["warmups"])


@router.post(
    "",
    status_code=201,
    response_model=WarmupAccepted,
    responses={
        404: {"description": "no such mailbox or IP address"},
        409: {"description": "a warmup of this target runs already"},
    },
)
async def create_warmup(
    body: WarmupCreate, principal: AdminDep, services: ServicesDep
) -> WarmupAccepted:
    curve = RampCurve(**body.curve.model_dump())
    try:
        # The row commits before the workflow starts (its activity reads it).
        warmup, wf_id = await start_warmup(
            services.db,
            services.temporal,
            principal.tenant_id,
            curve,
            email_account_id=body.email_account_id,
            smtp_ip_address_id=body.ip_address_id,
            pool=body.pool,
            day_seconds=services.settings.warmup_day_seconds,
        )
    except WarmupTargetNotFound:
        raise not_found("email account" if body.email_account_id else "IP address") from None
    except WarmupExists:
        raise ApiError(409, "a warmup of this target is running already") from None
    public = WarmupPublic.model_validate(warmup)
    return WarmupAccepted(**public.model_dump(), workflow_id=wf_id)


@router.get("", response_model=Page[WarmupPublic])
async def list_warmups(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[WarmupPublic]:
    rows = await WarmupRepository(session).page(decode_cursor(cursor), limit)
    return page(rows, limit, WarmupPublic.model_validate)


@router.get("/{warmup_id}", response_model=WarmupPublic)
async def get_warmup(warmup_id: UUID, session: SessionDep) -> WarmupPublic:
    warmup = await WarmupRepository(session).get(warmup_id)
    if warmup is None:
        raise not_found("warmup")
    return WarmupPublic.model_validate(warmup)


async def _command(
    services: ServicesDep, principal: AdminDep, warmup_id: UUID, command: str
) -> WarmupCommandResult:
    try:
        state = await command_warmup(
            services.db, services.temporal, principal.tenant_id, warmup_id, command
        )
    except WarmupNotFound:
        raise not_found("warmup") from None
    except WarmupRefused as exc:
        raise ApiError(409, str(exc)) from None
    return WarmupCommandResult(
        warmup_id=warmup_id, status=state.status, day=state.day, today_cap=state.cap
    )


@router.post(
    "/{warmup_id}/pause",
    response_model=WarmupCommandResult,
    responses={409: {"description": "the warmup's state refuses it"}},
)
async def pause_warmup(
    warmup_id: UUID, principal: AdminDep, services: ServicesDep
) -> WarmupCommandResult:
    return await _command(services, principal, warmup_id, "pause")


@router.post(
    "/{warmup_id}/resume",
    response_model=WarmupCommandResult,
    responses={409: {"description": "the warmup's state refuses it"}},
)
async def resume_warmup(
    warmup_id: UUID, principal: AdminDep, services: ServicesDep
) -> WarmupCommandResult:
    return await _command(services, principal, warmup_id, "resume")


@router.post(
    "/{warmup_id}/stop",
    response_model=WarmupCommandResult,
    responses={409: {"description": "the warmup's state refuses it"}},
)
async def stop_warmup(
    warmup_id: UUID, principal: AdminDep, services: ServicesDep
) -> WarmupCommandResult:
    return await _command(services, principal, warmup_id, "stop")
