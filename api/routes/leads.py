"""Leads: filtered pages, one lead, update, soft delete, erasure (GDPR)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageParamsDep, page
from api.schemas.leads import LeadPublic, LeadStatus, LeadUpdate
from penguinmails.leads.rows import normalize_timezone
from penguinmails.repositories.leads import LeadFilters, LeadRepository

router = APIRouter(prefix="/v1/leads", tags=["leads"])


@router.get("", response_model=Page[LeadPublic])
async def list_leads(
    principal: PrincipalDep,
    services: ServicesDep,
    params: PageParamsDep,
    list_id: UUID | None = None,
    status: LeadStatus | None = None,
    email_prefix: Annotated[str | None, Query(max_length=320)] = None,
    company: Annotated[str | None, Query(max_length=255)] = None,
    company_id: UUID | None = None,
) -> Page[LeadPublic]:
    """Filters: `list_id`, `status`, `email_prefix` (case-insensitive), `company` (the
    lead's company name), `company_id` (leads in a list of that workspace)."""
    filters = LeadFilters(list_id, status, email_prefix, company, company_id)
    async with services.db.tenant_session(principal.tenant_id) as session:
        rows = await LeadRepository(session).list(filters, params.cursor, params.limit)
    return page(rows, params.limit, LeadPublic.model_validate, lambda r: (r.created, r.id))


@router.get("/{lead_id}", response_model=LeadPublic)
async def get_lead(lead_id: UUID, principal: PrincipalDep, services: ServicesDep) -> LeadPublic:
    async with services.db.tenant_session(principal.tenant_id) as session:
        lead = await LeadRepository(session).get(lead_id)
    if lead is None:
        raise not_found("lead")
    return LeadPublic.model_validate(lead)


@router.patch("/{lead_id}", response_model=LeadPublic)
async def update_lead(
    lead_id: UUID, body: LeadUpdate, principal: PrincipalDep, services: ServicesDep
) -> LeadPublic:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("timezone"):
        try:
            fields["timezone"] = normalize_timezone(fields["timezone"])
        except ValueError as exc:
            raise ApiError(422, str(exc), details={"field": "timezone"}) from None
    async with services.db.tenant_session(principal.tenant_id) as session:
        repo = LeadRepository(session)
        lead = await repo.get(lead_id)
        if lead is None or lead.status == "erased":
            raise not_found("lead")
        lead = await repo.update(lead, **fields)
    return LeadPublic.model_validate(lead)


@router.delete("/{lead_id}", status_code=204)
async def delete_lead(lead_id: UUID, principal: PrincipalDep, services: ServicesDep) -> Response:
    async with services.db.tenant_session(principal.tenant_id) as session:
        repo = LeadRepository(session)
        lead = await repo.get(lead_id)
        if lead is None:
            raise not_found("lead")
        await repo.soft_delete(lead)
    return Response(status_code=204)
