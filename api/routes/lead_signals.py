"""Facts about a lead that a client detected itself (its own inbox, its own unsubscribe
page), told to the campaign engine: every open sequence of the lead hears them."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import AdminDep, ServicesDep
from api.errors import not_found
from api.schemas.campaigns import LeadSignalResult
from penguinmails.logging import request_id_var
from usecases import campaigns as uc

router = APIRouter(prefix="/v1/leads", tags=["leads"])


@router.post("/{lead_id}/reply", response_model=LeadSignalResult)
async def lead_replied(
    lead_id: UUID, principal: AdminDep, services: ServicesDep
) -> LeadSignalResult:
    """The lead replied: its sequences end in every campaign that stops on reply."""
    told = await uc.reply(services.db, services.temporal, principal.tenant_id, lead_id)
    if told is None:
        raise not_found("lead")
    return LeadSignalResult(lead_id=lead_id, signalled=told)


@router.post("/{lead_id}/unsubscribe", response_model=LeadSignalResult)
async def lead_unsubscribed(
    lead_id: UUID, principal: AdminDep, services: ServicesDep
) -> LeadSignalResult:
    """What the unsubscribe link records (the address suppressed, the lead `unsubscribed`,
    an audit row), then every open sequence of the lead ends."""
    out = await uc.unsubscribe(
        services.db, services.temporal, principal.tenant_id, lead_id, request_id_var.get()
    )
    if out is None:
        raise not_found("lead")
    told, suppressed_now = out
    return LeadSignalResult(lead_id=lead_id, signalled=told, suppressed_now=suppressed_now)
