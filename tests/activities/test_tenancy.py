"""The real provisioning activity against the real database: idempotent under retries."""

import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.interfaces.tenancy import ProvisionTenantInput
from activities.tenancy import TenancyActivities
from penguinmails.db import Database
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.users import UserRepository


async def _tenant(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("Activity Co")
        users = UserRepository(session)
        user = await users.create(f"act-{uuid.uuid4().hex[:8]}@example.com")
        await users.add_membership(tenant.id, user, ["owner"])
        return tenant.id, user.id


async def test_provision_twice_creates_once(db: Database) -> None:
    tenant_id, user_id = await _tenant(db)
    acts = TenancyActivities(db)
    env = ActivityEnvironment()
    data = ProvisionTenantInput(tenant_id=str(tenant_id), owner_user_id=str(user_id))
    first = await env.run(acts.provision_tenant, data)
    second = await env.run(acts.provision_tenant, data)
    assert first.created_config and first.created_policies
    assert not second.created_config and not second.created_policies
    assert first.default_company_id == second.default_company_id
    async with db.tenant_session(tenant_id) as session:
        companies = await CompanyRepository(session).list(None, 10)
    assert [str(c.id) for c in companies] == [first.default_company_id]


async def test_unknown_tenant_is_retryable_at_first(db: Database) -> None:
    acts = TenancyActivities(db)
    data = ProvisionTenantInput(tenant_id=str(uuid.uuid4()), owner_user_id=str(uuid.uuid4()))
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(acts.provision_tenant, data)
    assert err.value.type == "TenantNotVisible" and not err.value.non_retryable
