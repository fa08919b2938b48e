"""Leads: filtered pages, one lead, update, soft delete, erasure (GDPR)."""

from __future__ import annotations

import contextlib
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import AdminDep, PrincipalDep, ServicesDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageParamsDep, page
from api.schemas.leads import ErasureStarted, LeadPublic, LeadStatus, LeadUpdate
from penguinmails.leads.rows import normalize_timezone
from penguinmails.repositories.leads import LeadFilters, LeadRepository
from workflows.erasure import ErasureInput, ErasureWorkflow
from workflows.names import ERASURE, TaskQueue, tenant_attributes, workflow_id

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
    return page(rows, params.limit, LeadPublic.model_validate)


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


@router.post("/{lead_id}/erase", status_code=202, response_model=ErasureStarted)
async def erase_lead(lead_id: UUID, principal: AdminDep, services: ServicesDep) -> ErasureStarted:
    """GDPR erasure: an ErasureWorkflow cancels the person's running workflows, anonymises
    the lead everywhere and keeps only a hashed suppression entry. Idempotent."""
    async with services.db.tenant_session(principal.tenant_id) as session:
        lead = await LeadRepository(session).get(lead_id)
    if lead is None:
        raise not_found("lead")
    wid = workflow_id(ERASURE, principal.tenant_id, lead_id)
    # One erasure at a time per person (it is idempotent anyway).
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await services.temporal.start_workflow(
            ErasureWorkflow.run,
            ErasureInput(str(principal.tenant_id), str(lead_id), "user", str(principal.user_id)),
            id=wid,
            task_queue=TaskQueue.IMPORTS,
            search_attributes=tenant_attributes(principal.tenant_id, lead_id=str(lead_id)),
        )
    return ErasureStarted(lead_id=lead_id, workflow_id=wid)
