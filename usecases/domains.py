"""Sending domains: adding one (its row and DKIM key, then its verification workflow) and
asking for a check now. Shared by `POST /v1/domains` and `POST /v1/domains/{id}/verify`.

Both commit before they start or signal the workflow: its activity reads the row.
"""

from __future__ import annotations

from uuid import UUID

from temporalio.client import Client

from penguinmails.db import Database
from penguinmails.domains import add_domain
from penguinmails.models.infra import Domain
from penguinmails.repositories.domains import DomainRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from workflows.domain_verification import DomainVerificationInput, DomainVerificationWorkflow
from workflows.names import DOMAIN_VERIFICATION, TaskQueue, tenant_attributes, workflow_id


async def start_verification(
    client: Client, settings: Settings, tenant_id: UUID, domain_id: UUID
) -> str:
    """Start the domain's verification workflow, or make the running one check now."""
    wf_id = workflow_id(DOMAIN_VERIFICATION, tenant_id, domain_id)
    await client.start_workflow(
        DomainVerificationWorkflow.run,
        DomainVerificationInput(
            tenant_id=str(tenant_id),
            domain_id=str(domain_id),
            deadline_seconds=settings.domain_verification_deadline_hours * 3600,
        ),
        id=wf_id,
        task_queue=TaskQueue.INFRA,
        search_attributes=tenant_attributes(tenant_id),
        start_signal="check_now",
    )
    return wf_id


async def create_domain(
    db: Database,
    store: SecretStore,
    client: Client,
    settings: Settings,
    tenant_id: UUID,
    name: str,
    company_id: UUID | None,
) -> Domain:
    """Raises DomainTaken, CompanyNotFound or SecretStoreError (nothing written then)."""
    domain = await add_domain(db, store, settings, tenant_id, name, company_id)
    await start_verification(client, settings, tenant_id, domain.id)
    return domain


async def verify_now(
    db: Database, client: Client, settings: Settings, tenant_id: UUID, domain_id: UUID
) -> tuple[Domain, str] | None:
    """A pending or failed domain becomes `verifying` and is checked at once; None when the
    tenant has no such domain."""
    async with db.tenant_session(tenant_id) as session:
        repo = DomainRepository(session)
        domain = await repo.get(domain_id, for_update=True)
        if domain is None:
            return None
        if domain.verification_status in ("pending", "failed"):
            domain = await repo.set_status(domain, "verifying")
    return domain, await start_verification(client, settings, tenant_id, domain_id)
