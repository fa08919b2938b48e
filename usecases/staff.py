"""Staff accounts: the people who may read any tenant's workflows through the codec endpoint;
the codec-only token a Temporal UI uses instead of a staff key; and the staff console's
actions on a tenant (suspend, extend a trial, credit, resolve an alert), each written to the
tenant's audit trail with the staff member as actor.

A staff member is an ordinary user (with a tenant of their own, so their API key has a home)
plus a `staff_members` row; only the system role writes that table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from penguinmails.campaign_pauses import apply_pause_reason
from penguinmails.codec import codec_token_record
from penguinmails.db import Database
from penguinmails.models.billing import AccountCredit
from penguinmails.models.notifications import SystemNotification
from penguinmails.repositories.audit import AuditRepository
from penguinmails.repositories.credits import CreditRepository
from penguinmails.repositories.staff import add_staff, grant_role
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.repositories.system_notifications import SystemNotificationRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.users import UserRepository
from penguinmails.secrets import SecretStore
from penguinmails.security import NewKey
from usecases.tenancy import SignUpResult, sign_up
from workflows.names import TENANT_ID, campaign_workflow_id

STAFF_TENANT_NAME = "PenguinMails staff"
# The campaigns' pause reason of a suspension (each actor lifts only its own).
SUSPENSION = "suspension"


class UnknownStaff(Exception):
    pass


async def create_staff(
    db: Database,
    client: Client,
    email: str,
    key: NewKey | None = None,
    role: str | None = "read_only",
) -> SignUpResult:
    """A staff account with `role` (`super_admin`, `support`, `billing`, `read_only`)."""
    # A staff account is no customer: no welcome e-mail.
    result = await sign_up(db, client, STAFF_TENANT_NAME, email, key=key, welcome=False)
    async with db.admin_session() as session:
        await add_staff(session, result.user_id, role)
    return result


async def grant(db: Database, email: str, role: str) -> None:
    """Give the staff member with this e-mail the role; UnknownStaff otherwise."""
    async with db.admin_session() as session:
        user = await UserRepository(session).find_by_email(email)
        if user is None or not await grant_role(session, user.id, role):
            raise UnknownStaff(email)


async def set_codec_token(store: SecretStore, path: str, token: str) -> None:
    """Make `token` the codec-only credential (`penguinmails.codec`), replacing any other."""
    record = codec_token_record(token)
    if await store.read(path) != record:
        await store.write(path, record)


# -- the staff console ----------------------------------------------------------------------


class TenantNotFound(Exception):
    pass


class NotOnTrial(Exception):
    pass


@dataclass(frozen=True)
class StaffActor:
    """Who acts: the staff member's user (the audit trail's actor) and the request."""

    user_id: UUID
    request_id: str | None = None


@dataclass(frozen=True)
class Suspension:
    suspended: bool
    changed: bool  # False: it already was (the call is idempotent)
    campaigns: int  # campaigns this call paused, or whose `suspension` reason it lifted


async def _audit(
    session: AsyncSession,
    tenant_id: UUID,
    actor: StaffActor,
    action: str,
    entity_type: str,
    entity_id: UUID | str | None,
    details: dict[str, Any],
) -> None:
    await AuditRepository(session).record(
        tenant_id,
        actor_type="staff",
        actor_id=actor.user_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        details=details,
        request_id=actor.request_id,
    )


async def record_staff_reads(
    db: Database,
    tenant_ids: Iterable[UUID],
    actor: StaffActor,
    action: str,
    details: dict[str, Any],
) -> None:
    """What a staff member looked at, one entry per tenant concerned (in its trail), so a
    tenant's trail shows who found it and who read its data. `details` never holds the
    search text (it may be an e-mail address)."""
    async with db.admin_session() as session:
        for tenant_id in tenant_ids:
            await _audit(session, tenant_id, actor, action, "tenant", tenant_id, details)


async def set_suspension(
    db: Database,
    client: Client,
    tenant_id: UUID,
    actor: StaffActor,
    reason: str | None,
) -> Suspension:
    """Suspend the tenant (`reason` given) or lift it (None). Suspended, its keys are refused
    (the key lookup reads the flag) and every campaign that can send takes the pause reason
    `suspension`; lifted, that reason and only it goes. Repeating either is harmless and
    reaches campaigns an earlier call missed. TenantNotFound for an unknown tenant."""
    suspend = reason is not None
    async with db.admin_session() as session:
        changed = await TenantRepository(session).set_suspended(tenant_id, reason)
        if changed is None:
            raise TenantNotFound(str(tenant_id))
        await _audit(
            session,
            tenant_id,
            actor,
            "tenant.suspended" if suspend else "tenant.unsuspended",
            "tenant",
            tenant_id,
            {"changed": changed, **({"reason": reason} if suspend else {})},
        )
    # The flag is committed first: no new send can be started by the tenant's keys while
    # the campaigns are paused one by one.
    async with db.tenant_session(tenant_id) as session:
        repo = SubscriptionRepository(session)
        if suspend:
            campaigns = await repo.campaigns_to_pause(SUSPENSION)
        else:
            campaigns = await repo.campaigns_paused_for(SUSPENSION)
    done = await apply_pause_reason(
        client, campaign_workflow_id(tenant_id, ""), tenant_id, campaigns, SUSPENSION, suspend
    )
    return Suspension(suspend, changed, done)


async def extend_trial(db: Database, tenant_id: UUID, days: int, actor: StaffActor) -> datetime:
    """Move the trial's end `days` later; TenantNotFound, or NotOnTrial when the tenant has
    left its trial (a paid subscription's dates are Stripe's)."""
    async with db.admin_session() as session:
        if await TenantRepository(session).get(tenant_id) is None:
            raise TenantNotFound(str(tenant_id))
        ends = await SubscriptionRepository(session).extend_trial(tenant_id, days)
        if ends is None:
            raise NotOnTrial(str(tenant_id))
        await _audit(
            session,
            tenant_id,
            actor,
            "subscription.trial_extended",
            "subscription",
            tenant_id,
            {"days": days, "trial_ends": ends.isoformat()},
        )
    return ends


async def credit_tenant(
    db: Database, tenant_id: UUID, amount_cents: int, reason: str, actor: StaffActor
) -> AccountCredit:
    """Record a credit for the tenant (see `account_credits`); TenantNotFound."""
    async with db.admin_session() as session:
        if await TenantRepository(session).get(tenant_id) is None:
            raise TenantNotFound(str(tenant_id))
        credit = await CreditRepository(session).add(tenant_id, amount_cents, reason, actor.user_id)
        await _audit(
            session,
            tenant_id,
            actor,
            "billing.credited",
            "account_credit",
            credit.id,
            {"amount_cents": amount_cents},
        )
    return credit


async def resolve_notification(
    db: Database, notification_id: UUID, actor: StaffActor, staff_tenant: UUID
) -> SystemNotification | None:
    """Resolve a system notification (again: no change); None when there is none. Audited
    under the tenant it is about, or under the staff member's own tenant when it is about
    none (every audit entry belongs to a tenant)."""
    async with db.admin_session() as session:
        found = await SystemNotificationRepository(session).resolve(notification_id)
        if found is None:
            return None
        note, changed = found
        await _audit(
            session,
            note.tenant_id or staff_tenant,
            actor,
            "system_notification.resolved",
            "system_notification",
            note.id,
            {"changed": changed},
        )
    return note


@dataclass(frozen=True)
class TenantWorkflow:
    workflow_id: str
    run_id: str | None
    workflow_type: str
    status: str
    started: datetime | None
    closed: datetime | None


async def tenant_workflows(client: Client, tenant_id: UUID, limit: int) -> list[TenantWorkflow]:
    """The tenant's workflows through Temporal visibility (`TenantId`), in its order (newest
    first; ORDER BY is not supported by every visibility store, the dev server's included)."""
    found: list[TenantWorkflow] = []
    query = f"{TENANT_ID.name} = '{tenant_id}'"
    async for execution in client.list_workflows(query, page_size=min(limit, 100)):
        found.append(
            TenantWorkflow(
                execution.id,
                execution.run_id,
                execution.workflow_type,
                execution.status.name if execution.status is not None else "UNKNOWN",
                execution.start_time,
                execution.close_time,
            )
        )
        if len(found) >= limit:
            break
    return found
