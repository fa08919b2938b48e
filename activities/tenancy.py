"""Tenancy activities: methods of a class that holds the database (one per worker)."""

from __future__ import annotations

from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.tenancy import (
    PROVISION_TENANT,
    ProvisionTenantInput,
    ProvisionTenantOutput,
)
from penguinmails.db import Database
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.users import UserRepository


class TenancyActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=PROVISION_TENANT)
    async def provision_tenant(self, data: ProvisionTenantInput) -> ProvisionTenantOutput:
        """Idempotent: every insert is `ON CONFLICT DO NOTHING`, a retry changes nothing."""
        tenant_id = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant_id) as session:
            tenants = TenantRepository(session)
            if await tenants.get(tenant_id) is None:
                # Sign-up commits a moment after starting this workflow: retry until then.
                if activity.info().attempt < 20:
                    raise ApplicationError("tenant not visible yet", type="TenantNotVisible")
                raise ApplicationError(
                    "tenant does not exist", type="TenantNotFound", non_retryable=True
                )
            owner = await UserRepository(session).get_member(UUID(data.owner_user_id))
            billing_email = owner[0].email if owner else None
            created_config = await tenants.ensure_config(tenant_id, billing_email)
            created_policies = await tenants.ensure_policies(tenant_id)
            company_id = await CompanyRepository(session).ensure_default(
                tenant_id, data.default_company_name
            )
        activity.logger.info("tenant %s provisioned", tenant_id)
        return ProvisionTenantOutput(
            tenant_id=data.tenant_id,
            default_company_id=str(company_id),
            created_config=created_config,
            created_policies=created_policies,
        )
