"""Sending domains: add (DKIM key to Vault), list, read, the DNS records to publish with
their last check, re-run verification, remove."""

from __future__ import annotations

import logging
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, PrincipalDep, ServicesDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageParamsDep, page
from api.schemas.domains import DnsRecordsPublic, DomainCreate, DomainPublic, VerifyAccepted
from api.services import Services
from penguinmails.domains import CompanyNotFound, add_domain, remove_domain
from penguinmails.repositories.domains import DomainRepository, DomainTaken
from penguinmails.secrets import SecretStore, SecretStoreError
from workflows.domain_verification import DomainVerificationInput, DomainVerificationWorkflow
from workflows.names import DOMAIN_VERIFICATION, TaskQueue, tenant_attributes, workflow_id

log = logging.getLogger("penguinmails.api")
router = APIRouter(prefix="/v1/domains", tags=["domains"])


def secret_store_of(services: Services) -> SecretStore:
    if services.secrets is None:
        raise ApiError(503, "the secret store is not configured")
    return services.secrets


def vault_unavailable(exc: SecretStoreError) -> ApiError:
    log.warning("secret store failure: %s", exc)
    return ApiError(503, "the secret store (Vault) is unavailable; nothing was changed")


async def start_verification(services: Services, tenant_id: UUID, domain_id: UUID) -> str:
    """Start the domain's verification workflow, or make the running one check now."""
    wf_id = workflow_id(DOMAIN_VERIFICATION, tenant_id, domain_id)
    await services.temporal.start_workflow(
        DomainVerificationWorkflow.run,
        DomainVerificationInput(
            tenant_id=str(tenant_id),
            domain_id=str(domain_id),
            deadline_seconds=services.settings.domain_verification_deadline_hours * 3600,
        ),
        id=wf_id,
        task_queue=TaskQueue.INFRA,
        search_attributes=tenant_attributes(tenant_id),
        start_signal="check_now",
    )
    return wf_id


@router.post("", status_code=201, response_model=DomainPublic)
async def create_domain(
    body: DomainCreate, principal: AdminDep, services: ServicesDep
) -> DomainPublic:
    store = secret_store_of(services)
    try:
        domain = await add_domain(
            services.db, store, services.settings, principal.tenant_id, body.domain, body.company_id
        )
    except DomainTaken:
        raise ApiError(409, f"the domain {body.domain} is already registered") from None
    except CompanyNotFound:
        raise not_found("company") from None
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    await start_verification(services, principal.tenant_id, domain.id)
    return DomainPublic.model_validate(domain)


@router.get("", response_model=Page[DomainPublic])
async def list_domains(
    principal: PrincipalDep, services: ServicesDep, params: PageParamsDep
) -> Page[DomainPublic]:
    async with services.db.tenant_session(principal.tenant_id) as session:
        rows = await DomainRepository(session).list(params.cursor, params.limit)
    return page(rows, params.limit, DomainPublic.model_validate)


@router.get("/{domain_id}", response_model=DomainPublic)
async def get_domain(
    domain_id: UUID, principal: PrincipalDep, services: ServicesDep
) -> DomainPublic:
    async with services.db.tenant_session(principal.tenant_id) as session:
        domain = await DomainRepository(session).get(domain_id)
    if domain is None:
        raise not_found("domain")
    return DomainPublic.model_validate(domain)


@router.get("/{domain_id}/dns-records", response_model=DnsRecordsPublic)
async def get_dns_records(
    domain_id: UUID, principal: PrincipalDep, services: ServicesDep
) -> DnsRecordsPublic:
    async with services.db.tenant_session(principal.tenant_id) as session:
        domain = await DomainRepository(session).get(domain_id)
    if domain is None:
        raise not_found("domain")
    return DnsRecordsPublic.of(domain)


@router.post("/{domain_id}/verify", status_code=202, response_model=VerifyAccepted)
async def verify_domain(
    domain_id: UUID, principal: AdminDep, services: ServicesDep
) -> VerifyAccepted:
    async with services.db.tenant_session(principal.tenant_id) as session:
        repo = DomainRepository(session)
        domain = await repo.get(domain_id, for_update=True)
        if domain is None:
            raise not_found("domain")
        if domain.verification_status in ("pending", "failed"):
            domain = await repo.set_status(domain, "verifying")
    wf_id = await start_verification(services, principal.tenant_id, domain_id)
    return VerifyAccepted(
        domain_id=domain_id, verification_status=domain.verification_status, workflow_id=wf_id
    )


@router.delete("/{domain_id}", status_code=204)
async def delete_domain(domain_id: UUID, principal: AdminDep, services: ServicesDep) -> Response:
    store = secret_store_of(services)
    try:
        removed = await remove_domain(services.db, store, principal.tenant_id, domain_id)
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    if not removed:
        raise not_found("domain")
    return Response(status_code=204)
