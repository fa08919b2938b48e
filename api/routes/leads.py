"""Leads: filtered pages, one lead, update, soft delete, erasure (GDPR)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.leads import ErasureStarted, LeadPublic, LeadStatus, LeadUpdate
from penguinmails.leads.rows import normalize_timezone
from penguinmails.repositories.leads import LeadFilters, LeadRepository
from usecases.leads import start_erasure

router = APIRouter(prefix="/v1/leads", tags=["leads"])
# A list goes from a Core select straight to JSON in LeadPublic's shape.
_FIELDS = fields_of(LeadPublic)


@router.get("", response_model=Page[LeadPublic])
async def list_leads(
    session: SessionDep,
    list_id: UUID | None = None,
    status: LeadStatus | None = None,
    email_prefix: Annotated[str | None, Query(max_length=320)] = None,
    company: Annotated[str | None, Query(max_length=255)] = None,
    company_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Response:
    """Filters: `list_id`, `status`, `email_prefix` (case-insensitive), `company` (the
    lead's company name), `company_id` (leads in a list of that workspace)."""
    filters = LeadFilters(list_id, status, email_prefix, company, company_id)
    rows = await LeadRepository(session).list_rows(filters, decode_cursor(cursor), limit, _FIELDS)
    return json_page(rows, limit)


@router.get("/{lead_id}", response_model=LeadPublic)
async def get_lead(lead_id: UUID, session: SessionDep) -> LeadPublic:
    lead = await LeadRepository(session).get(lead_id)
    if lead is None:
        raise not_found("lead")
    return LeadPublic.model_validate(lead)


@router.patch("/{lead_id}", response_model=LeadPublic)
async def update_lead(lead_id: UUID, body: LeadUpdate, session: SessionDep) -> LeadPublic:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("timezone"):
        try:
            fields["timezone"] = normalize_timezone(fields["timezone"])
        except ValueError as exc:
            raise ApiError(422, str(exc), details={"field": "timezone"}) from None
    repo = LeadRepository(session)
    lead = await repo.get(lead_id)
    if lead is None or lead.status == "erased":
        raise not_found("lead")
    lead = await repo.update(lead, **fields)
    return LeadPublic.model_validate(lead)


@router.delete("/{lead_id}", status_code=204)
async def delete_lead(lead_id: UUID, session: SessionDep) -> Response:
    repo = LeadRepository(session)
    lead = await repo.get(lead_id)
    if lead is None:
        raise not_found("lead")
    await repo.soft_delete(lead)
    return Response(status_code=204)


@router.post("/{lead_id}/erase", status_code=202, response_model=ErasureStarted)
async def erase_lead(lead_id: UUID, principal: AdminDep, services: ServicesDep) -> ErasureStarted:
    """GDPR erasure: an ErasureWorkflow cancels the person's running workflows, anonymises
    the lead everywhere and keeps only a hashed suppression entry. Idempotent."""
    wid = await start_erasure(
        services.db, services.temporal, principal.tenant_id, lead_id, principal.user_id
    )
    if wid is None:
        raise not_found("lead")
    return ErasureStarted(lead_id=lead_id, workflow_id=wid)
