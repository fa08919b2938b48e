"""Sending domains: add (DKIM key to Vault), list, read, the DNS records to publish with
their last check, re-run verification, remove; the IP a domain sends from (a shared pool IP
or one of the tenant's own)."""

from __future__ import annotations

import logging
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import PLAN_LIMIT, ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.domains import (
    DnsRecordsPublic,
    DomainCreate,
    DomainIpAssign,
    DomainIpPublic,
    DomainPublic,
    VerifyAccepted,
)
from api.services import Services
from penguinmails.domains import CompanyNotFound, remove_domain
from penguinmails.repositories.domains import DomainRepository, DomainTaken
from penguinmails.repositories.ip_addresses import IpAddressRepository, NoUsableIp
from penguinmails.secrets import SecretStore, SecretStoreError
from usecases.domains import create_domain as create_domain_and_verify
from usecases.domains import verify_now

log = logging.getLogger("penguinmails.api")
router = APIRouter(prefix="/v1/domains", tags=["domains"])
# A list goes from a Core select straight to JSON in DomainPublic's shape.
_FIELDS = fields_of(DomainPublic)


def secret_store_of(services: Services) -> SecretStore:
    if services.secrets is None:
        raise ApiError(503, "the secret store is not configured")
    return services.secrets


def vault_unavailable(exc: SecretStoreError) -> ApiError:
    log.warning("secret store failure: %s", exc)
    return ApiError(503, "the secret store (Vault) is unavailable; nothing was changed")


@router.post("", status_code=201, response_model=DomainPublic, responses=PLAN_LIMIT)
async def create_domain(
    body: DomainCreate, principal: AdminDep, services: ServicesDep
) -> DomainPublic:
    store = secret_store_of(services)
    try:
        # Commits (row and DKIM key) before the verification workflow starts: explicit.
        domain = await create_domain_and_verify(
            services.db,
            store,
            services.temporal,
            services.settings,
            principal.tenant_id,
            body.domain,
            body.company_id,
        )
    except DomainTaken:
        raise ApiError(409, f"the domain {body.domain} is already registered") from None
    except CompanyNotFound:
        raise not_found("company") from None
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    return DomainPublic.model_validate(domain)


@router.get("", response_model=Page[DomainPublic])
async def list_domains(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Response:
    rows = await DomainRepository(session).list_rows(decode_cursor(cursor), limit, _FIELDS)
    return json_page(rows, limit)


@router.get("/{domain_id}", response_model=DomainPublic)
async def get_domain(domain_id: UUID, session: SessionDep) -> DomainPublic:
    domain = await DomainRepository(session).get(domain_id)
    if domain is None:
        raise not_found("domain")
    return DomainPublic.model_validate(domain)


@router.get("/{domain_id}/dns-records", response_model=DnsRecordsPublic)
async def get_dns_records(domain_id: UUID, session: SessionDep) -> DnsRecordsPublic:
    domain = await DomainRepository(session).get(domain_id)
    if domain is None:
        raise not_found("domain")
    return DnsRecordsPublic.of(domain)


@router.get("/{domain_id}/ip", response_model=DomainIpPublic)
async def get_domain_ip(domain_id: UUID, session: SessionDep) -> DomainIpPublic:
    """The IP the domain sends from now (404: none, its mailboxes use their own servers)."""
    if await DomainRepository(session).get(domain_id) is None:
        raise not_found("domain")
    current = await IpAddressRepository(session).assignment(domain_id)
    if current is None:
        raise not_found("IP assignment")
    return DomainIpPublic.model_validate(current)


@router.post(
    "/{domain_id}/ip",
    response_model=DomainIpPublic,
    responses={409: {"description": "no IP can take the domain (the pool has none left)"}},
)
async def assign_domain_ip(
    domain_id: UUID, body: DomainIpAssign, principal: AdminDep, session: SessionDep
) -> DomainIpPublic:
    """Send the domain's mail from a shared pool IP or one of the tenant's own; its other
    live assignments expire. Idempotent: a domain on a usable shared IP keeps it."""
    if await DomainRepository(session).get(domain_id, for_update=True) is None:
        raise not_found("domain")
    ips = IpAddressRepository(session)
    if body.ip_address_id is not None and await ips.get(body.ip_address_id) is None:
        raise not_found("IP address")  # another tenant's IP is as unknown as none
    try:
        if body.ip_address_id is None:
            assigned = await ips.assign_shared(domain_id)
        else:
            assigned = await ips.assign_dedicated(domain_id, body.ip_address_id)
    except NoUsableIp as exc:
        raise ApiError(409, str(exc)) from None
    return DomainIpPublic.model_validate(assigned)


@router.post("/{domain_id}/verify", status_code=202, response_model=VerifyAccepted)
async def verify_domain(
    domain_id: UUID, principal: AdminDep, services: ServicesDep
) -> VerifyAccepted:
    # The status change commits before the workflow is signalled: explicit, in the use case.
    started = await verify_now(
        services.db, services.temporal, services.settings, principal.tenant_id, domain_id
    )
    if started is None:
        raise not_found("domain")
    domain, wf_id = started
    return VerifyAccepted(
        domain_id=domain_id, verification_status=domain.verification_status, workflow_id=wf_id
    )


@router.delete("/{domain_id}", status_code=204)
async def delete_domain(domain_id: UUID, principal: AdminDep, services: ServicesDep) -> Response:
    store = secret_store_of(services)
    try:
        # Its own transaction: the key is deleted from Vault inside it, before it commits.
        removed = await remove_domain(services.db, store, principal.tenant_id, domain_id)
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    if not removed:
        raise not_found("domain")
    return Response(status_code=204)
