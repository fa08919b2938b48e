"""Sign-up: a tenant, its owner, the owner's first API key, and the provisioning workflow.

Shared by `POST /v1/tenants` and `penguinmails tenant create`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from activities.interfaces.tenancy import ProvisionTenantInput
from penguinmails.db import Database
from penguinmails.repositories.api_keys import ApiKeyRepository
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.transactional_emails import TransactionalEmailRepository
from penguinmails.repositories.users import UserRepository
from penguinmails.security import NewKey, generate_key
from workflows.names import TENANT_PROVISIONING, TaskQueue, tenant_attributes, workflow_id
from workflows.tenant_provisioning import TenantProvisioningWorkflow


class EmailAlreadyRegistered(Exception):
    pass


@dataclass(frozen=True)
class SignUpResult:
    tenant_id: UUID
    user_id: UUID
    api_key: str
    workflow_id: str


async def sign_up(
    db: Database,
    client: Client,
    name: str,
    owner_email: str,
    key: NewKey | None = None,
    welcome: bool = True,
) -> SignUpResult:
    key = key or generate_key()
    try:
        async with db.admin_session() as session:
            users = UserRepository(session)
            if await users.find_by_email(owner_email) is not None:
                raise EmailAlreadyRegistered(owner_email)
            tenant = await TenantRepository(session).create(name)
            user = await users.create(owner_email)
            if await users.add_membership(tenant.id, user, ["owner"]) is None:
                raise AssertionError("a new tenant has no members yet")
            await ApiKeyRepository(session).create(
                tenant.id, user.id, "Owner key", key.prefix, key.key_hash
            )
            # Every tenant starts on the trial plan; its limits hold from the first request.
            await SubscriptionRepository(session).start_trial(tenant.id)
            if welcome:  # the customer's welcome e-mail, queued with the account
                await TransactionalEmailRepository(session).queue(
                    tenant.id, "welcome", "welcome", {"tenant_name": name}, owner_email, user.id
                )
            # Started before the commit: if Temporal is down nothing is half-written; the
            # activity retries for the few milliseconds until the rows are visible.
            wf_id = workflow_id(TENANT_PROVISIONING, tenant.id, tenant.id)
            await client.start_workflow(
                TenantProvisioningWorkflow.run,
                ProvisionTenantInput(tenant_id=str(tenant.id), owner_user_id=str(user.id)),
                id=wf_id,
                task_queue=TaskQueue.INFRA,
                search_attributes=tenant_attributes(tenant.id),
                execution_timeout=timedelta(hours=1),
            )
            tenant_id, user_id = tenant.id, user.id
    except IntegrityError as exc:  # a concurrent sign-up with the same e-mail won the race
        raise EmailAlreadyRegistered(owner_email) from exc
    return SignUpResult(
        tenant_id=tenant_id, user_id=user_id, api_key=key.plaintext, workflow_id=wf_id
    )
