"""Billing: the public plan catalogue; the tenant's subscription (subscribe, upgrade,
downgrade, cancel at period end, resume), its usage against the plan, its invoices."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep
from api.schemas.billing import PlanPublic
from penguinmails.repositories.plans import PlanRepository

router = APIRouter(prefix="/v1/billing", tags=["billing"])


@router.get("/plans", response_model=list[PlanPublic])
async def list_plans(services: ServicesDep) -> list[PlanPublic]:
    """The plans on offer (public, no key): limits and features as data."""
    async with services.db.admin_session() as session:
        plans = await PlanRepository(session).list()
    return [PlanPublic.model_validate(p) for p in plans]
