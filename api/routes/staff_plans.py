"""Staff: add a plan to the catalogue, retire one (no longer offered; subscribers keep it)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from api.deps import Principal, ServicesDep, require_staff
from api.errors import ApiError, not_found
from api.schemas.billing import PlanCreate, PlanPublic
from penguinmails.repositories.plans import PlanNameTaken, PlanRepository

router = APIRouter(prefix="/v1/staff/plans", tags=["staff"])

PlansRead = Annotated[Principal, require_staff("plans.read")]
PlansWrite = Annotated[Principal, require_staff("plans.write")]


@router.get("", response_model=list[PlanPublic])
async def list_all_plans(staff: PlansRead, services: ServicesDep) -> list[PlanPublic]:
    async with services.db.admin_session() as session:
        plans = await PlanRepository(session).list(include_retired=True)
    return [PlanPublic.model_validate(p) for p in plans]


@router.post(
    "", status_code=201, response_model=PlanPublic, responses={409: {"description": "taken"}}
)
async def create_plan(body: PlanCreate, staff: PlansWrite, services: ServicesDep) -> PlanPublic:
    try:
        async with services.db.admin_session() as session:
            plan = await PlanRepository(session).create(body.model_dump())
    except PlanNameTaken:
        raise ApiError(409, "a plan with this name or Stripe id exists") from None
    return PlanPublic.model_validate(plan)


@router.post("/{plan_id}/retire", response_model=PlanPublic)
async def retire_plan(plan_id: UUID, staff: PlansWrite, services: ServicesDep) -> PlanPublic:
    async with services.db.admin_session() as session:
        plan = await PlanRepository(session).retire(plan_id)
    if plan is None:
        raise not_found("plan")
    return PlanPublic.model_validate(plan)
