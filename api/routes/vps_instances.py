"""VPS instances: order one (its lifecycle workflow provisions it), list, read, the
tenant's monthly cost, and decommission at the end of the paid period."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.vps import DecommissionAccepted, MonthlyCost, VpsAccepted, VpsCreate, VpsPublic
from penguinmails.repositories.vps import VpsRepository
from usecases.vps import VpsConflict, VpsNotFound, create_vps, schedule_decommission

router = APIRouter(prefix="/v1/vps-instances", tags=["vps-instances"])


@router.post("", status_code=201, response_model=VpsAccepted)
async def order_vps(body: VpsCreate, principal: AdminDep, services: ServicesDep) -> VpsAccepted:
    # The row commits before the workflow starts (its activities read it): in the use case.
    vps, wf_id = await create_vps(
        services.db, services.temporal, principal.tenant_id, body.provider, body.region
    )
    return VpsAccepted(**VpsPublic.model_validate(vps).model_dump(), workflow_id=wf_id)


@router.get("", response_model=Page[VpsPublic])
async def list_vps(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[VpsPublic]:
    rows = await VpsRepository(session).page(decode_cursor(cursor), limit)
    return page(rows, limit, VpsPublic.model_validate)


@router.get("/monthly-cost", response_model=MonthlyCost)
async def monthly_cost(session: SessionDep) -> MonthlyCost:
    total, servers = await VpsRepository(session).monthly_cost()
    return MonthlyCost(monthly_cost=total, servers=servers)


@router.get("/{vps_id}", response_model=VpsPublic)
async def get_vps(vps_id: UUID, session: SessionDep) -> VpsPublic:
    vps = await VpsRepository(session).get(vps_id)
    if vps is None:
        raise not_found("VPS instance")
    return VpsPublic.model_validate(vps)


@router.post(
    "/{vps_id}/decommission",
    status_code=202,
    response_model=DecommissionAccepted,
    responses={409: {"description": "already ended, or domains no other IP can take"}},
)
async def decommission_vps(
    vps_id: UUID, principal: AdminDep, services: ServicesDep
) -> DecommissionAccepted:
    try:
        done = await schedule_decommission(
            services.db, services.temporal, principal.tenant_id, vps_id
        )
    except VpsNotFound:
        raise not_found("VPS instance") from None
    except VpsConflict as exc:
        raise ApiError(
            409, str(exc), details={"domains": exc.domains} if exc.domains else None
        ) from None
    return DecommissionAccepted(
        vps_id=vps_id,
        status=done.vps.status,
        decommission_scheduled_for=done.vps.decommission_scheduled_for,
        already_scheduled=done.already_scheduled,
        workflow_id=done.workflow_id,
    )
