"""Adding a sending domain: its DKIM key pair (private key to the secret store only), its
expected DNS records, its row. Shared by `POST /v1/domains` and the CLI.

Nothing is half-written: the row is inserted and the key written inside one transaction; a
secret-store failure rolls the row back, and a failure after the key was written deletes
the key again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID, uuid4

from penguinmails.db import Database
from penguinmails.mail import dkim_keys
from penguinmails.mail.records import expected_records
from penguinmails.models.base import utcnow
from penguinmails.models.infra import Domain
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.domains import DomainRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings

log = logging.getLogger(__name__)

DKIM_PRIVATE_KEY_FIELD = "private_key"


class CompanyNotFound(Exception):
    pass


def dkim_key_path(tenant_id: UUID, domain_id: UUID) -> str:
    return f"tenants/{tenant_id}/domains/{domain_id}/dkim"


async def add_domain(
    db: Database,
    store: SecretStore,
    settings: Settings,
    tenant_id: UUID,
    name: str,
    company_id: UUID | None = None,
) -> Domain:
    """`name` is already normalised (`records.normalize_domain`). Raises DomainTaken,
    CompanyNotFound, or SecretStoreError (the secret store is down or refused)."""
    pair = await asyncio.to_thread(dkim_keys.generate_key_pair)
    domain_id = uuid4()
    selector = f"pm{utcnow():%Y%m}"
    path = dkim_key_path(tenant_id, domain_id)
    written = False
    try:
        async with db.tenant_session(tenant_id) as session:
            await PlanLimitRepository(session, tenant_id).take("domains")
            companies = CompanyRepository(session)
            if company_id is not None:
                if await companies.get(company_id) is None:
                    raise CompanyNotFound(str(company_id))
            else:
                company_id = await companies.ensure_default(tenant_id, "Default workspace")
            records = expected_records(
                name,
                selector=selector,
                dkim_public_b64=pair.public_b64,
                spf_ips=[],  # a new domain has no IP assigned yet
                spf_include=settings.mail_spf_include,
                dmarc_report_email=settings.dmarc_report_email,
                mx_host=settings.mail_mx_host,
                tracking_target=settings.tracking_cname_target,
            )
            domain = await DomainRepository(session).create(
                Domain(
                    id=domain_id,
                    tenant_id=tenant_id,
                    company_id=company_id,
                    domain=name,
                    verification_status="pending",
                    dkim_selector=selector,
                    vault_key_path=path,
                    dns_records={
                        "records": [{**r.as_dict(), "status": "pending"} for r in records]
                    },
                )
            )
            await store.write(path, {DKIM_PRIVATE_KEY_FIELD: pair.private_pem})
            written = True
    except BaseException:
        if written:  # the row did not commit: take the key back out
            with contextlib.suppress(SecretStoreError):
                await store.delete(path)
        raise
    log.info("domain %s added for tenant %s (DKIM key at %s)", domain_id, tenant_id, path)
    return domain


async def read_dkim_private_key(store: SecretStore, domain: Domain) -> str:
    if not domain.vault_key_path:
        raise SecretStoreError(f"domain {domain.id} has no DKIM key path")
    secret = await store.read(domain.vault_key_path)
    if not secret or DKIM_PRIVATE_KEY_FIELD not in secret:
        raise SecretStoreError(f"no DKIM key at {domain.vault_key_path}")
    return secret[DKIM_PRIVATE_KEY_FIELD]


async def remove_domain(db: Database, store: SecretStore, tenant_id: UUID, domain_id: UUID) -> bool:
    """Soft-delete the row and delete its key, inside the row's transaction: when the secret
    store fails, nothing changes."""
    async with db.tenant_session(tenant_id) as session:
        repo = DomainRepository(session)
        domain = await repo.get(domain_id, for_update=True)
        if domain is None:
            return False
        if domain.vault_key_path:
            await store.delete(domain.vault_key_path)
        await repo.soft_delete(domain)
    return True


__all__ = [
    "DKIM_PRIVATE_KEY_FIELD",
    "CompanyNotFound",
    "add_domain",
    "dkim_key_path",
    "read_dkim_private_key",
    "remove_domain",
]
