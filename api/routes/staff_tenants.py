"""Staff: find a tenant, see its overview, suspend or unsuspend it, extend its trial, credit
it, list its workflows. Every route checks its staff permission; every action (reads of a
tenant's data included) goes into that tenant's audit trail with the staff member as actor.
Cross-tenant reads go through the system role; one tenant's data through its own session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import Principal, ServicesDep, require_staff
from api.errors import ApiError, not_found
from api.schemas.billing import UsageItem
from api.schemas.staff import (
    CreditPublic,
    CreditRequest,
    FailurePublic,
    MailboxHealthPublic,
    SubscriptionSummary,
    SuspendRequest,
    SuspensionPublic,
    TenantMatchPublic,
    TenantOverview,
    TenantSearchResult,
    TenantWorkflows,
    TrialExtension,
    TrialPublic,
    WorkflowPublic,
)
from api.services import Services
from penguinmails.billing import LIMITS
from penguinmails.logging import request_id_var
from penguinmails.repositories.analytics import AnalyticsRepository
from penguinmails.repositories.credits import CreditRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.repositories.tenant_overview import MailboxHealth, TenantOverviewRepository
from penguinmails.repositories.tenants import TenantRepository
from usecases.staff import (
    NotOnTrial,
    StaffActor,
    TenantNotFound,
    credit_tenant,
    extend_trial,
    record_staff_reads,
    set_suspension,
    tenant_workflows,
)
from workflows.names import TENANT_ID

router = APIRouter(prefix="/v1/staff/tenants", tags=["staff"])

TenantsRead = Annotated[Principal, require_staff("tenants.read")]
TenantsSuspend = Annotated[Principal, require_staff("tenants.suspend")]
BillingCredit = Annotated[Principal, require_staff("billing.credit")]
BillingTrial = Annotated[Principal, require_staff("billing.trial")]

SEARCH_LIMIT = 50
# The mailboxes' send, bounce and complaint figures cover this many days (today included).
HEALTH_DAYS = 7


def actor_of(staff: Principal) -> StaffActor:
    request_id = request_id_var.get()
    return StaffActor(staff.user_id, None if request_id == "-" else request_id)


@router.get("", response_model=TenantSearchResult)
async def search_tenants(
    staff: TenantsRead,
    services: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
) -> TenantSearchResult:
    """Tenants whose id is `q`, or whose name, an owner's e-mail or one of its domains
    contains it (case-insensitive); at most 50, by name."""
    async with services.db.admin_session() as session:
        found = await TenantRepository(session).search(q, SEARCH_LIMIT)
    await record_staff_reads(
        services.db, [t.id for t in found], actor_of(staff), "tenant.found", {}
    )
    return TenantSearchResult(
        items=[
            TenantMatchPublic(
                id=t.id,
                name=t.name,
                created=t.created,
                suspended=t.suspended,
                owner_emails=t.owner_emails,
                domains=t.domains,
            )
            for t in found
        ]
    )


@router.get("/{tenant_id}", response_model=TenantOverview)
async def tenant_overview(
    tenant_id: UUID, staff: TenantsRead, services: ServicesDep
) -> TenantOverview:
    """Plan and subscription, usage against the plan (as `GET /v1/billing/usage`), credits,
    campaigns by status, mailboxes with their health (sends today; the last 7 days' sends
    and how many of them bounced or drew a complaint, from the analytics roll-up, so as
    fresh as its events) and the 20 most recent failures (failed or unknown sends, error
    notices)."""
    async with services.db.tenant_session(tenant_id) as session:
        overview = TenantOverviewRepository(session)
        tenant = await overview.tenant(tenant_id)
        if tenant is None:
            raise not_found("tenant")
        sub = await SubscriptionRepository(session).current(tenant_id)
        usage = await PlanLimitRepository(session, tenant_id).report(LIMITS)
        credits = await CreditRepository(session).total_cents(tenant_id)
        campaigns = await overview.campaigns_by_status()
        mailboxes = await overview.mailboxes()
        failures = await overview.recent_failures()
    since = datetime.now(UTC).date() - timedelta(days=HEALTH_DAYS - 1)
    async with services.db.analytics_session(tenant_id) as session:
        totals = await AnalyticsRepository(session).mailbox_totals(since)
    await record_staff_reads(services.db, [tenant_id], actor_of(staff), "tenant.viewed", {})
    return TenantOverview(
        id=tenant.id,
        name=tenant.name,
        created=tenant.created,
        suspended=tenant.suspended,
        suspended_reason=tenant.suspended_reason,
        subscription=None
        if sub is None
        else SubscriptionSummary(
            plan_id=sub.plan_id,
            plan_name=sub.plan_name,
            status=sub.status,
            trial_ends=sub.expires if sub.status == "trialing" else None,
            current_period_end=sub.current_period_end,
            cancel_at_period_end=sub.cancel_at_period_end,
            grace_ends=sub.grace_ends,
        ),
        usage=[UsageItem(limit=i.limit, allowed=i.allowed, used=i.used) for i in usage.items],
        usage_period_start=usage.period_start,
        usage_period_end=usage.period_end,
        credits_cents=credits,
        campaigns_by_status=campaigns,
        mailboxes=[_health(m, totals.get(m.id, (0, 0, 0))) for m in mailboxes],
        recent_failures=[FailurePublic(**vars(f)) for f in failures],
    )


def _health(box: MailboxHealth, totals: tuple[int, int, int]) -> MailboxHealthPublic:
    sent, bounced, complained = totals
    return MailboxHealthPublic(
        **vars(box), sent_7d=sent, bounced_7d=bounced, complained_7d=complained
    )


async def _suspension(
    services: Services, tenant_id: UUID, staff: Principal, reason: str | None
) -> SuspensionPublic:
    try:
        done = await set_suspension(
            services.db, services.temporal, tenant_id, actor_of(staff), reason
        )
    except TenantNotFound:
        raise not_found("tenant") from None
    # This process forgets the tenant's verified keys at once; other API processes within
    # `api_key_cache_seconds` (the key lookup reads the flag).
    services.keys.forget_tenant(tenant_id)
    return SuspensionPublic(
        tenant_id=tenant_id,
        suspended=done.suspended,
        changed=done.changed,
        campaigns=done.campaigns,
    )


@router.post("/{tenant_id}/suspend", response_model=SuspensionPublic)
async def suspend_tenant(
    tenant_id: UUID, body: SuspendRequest, staff: TenantsSuspend, services: ServicesDep
) -> SuspensionPublic:
    """Suspend the tenant: its keys answer 403 `tenant_suspended`, its campaigns pause with
    the reason `suspension`. Idempotent (a repeat keeps the first reason and time)."""
    return await _suspension(services, tenant_id, staff, body.reason)


@router.post("/{tenant_id}/unsuspend", response_model=SuspensionPublic)
async def unsuspend_tenant(
    tenant_id: UUID, staff: TenantsSuspend, services: ServicesDep
) -> SuspensionPublic:
    """Lift the suspension: its keys work again, and its campaigns lose the `suspension`
    pause reason (and only it: a campaign paused by its user or for billing stays paused).
    Idempotent."""
    return await _suspension(services, tenant_id, staff, None)


@router.post(
    "/{tenant_id}/trial-extension",
    response_model=TrialPublic,
    responses={409: {"description": "the tenant is not on its trial"}},
)
async def extend_tenant_trial(
    tenant_id: UUID, body: TrialExtension, staff: BillingTrial, services: ServicesDep
) -> TrialPublic:
    """Move the trial's end `days` (1 to 90) later (from now when it has already passed)."""
    try:
        ends = await extend_trial(services.db, tenant_id, body.days, actor_of(staff))
    except TenantNotFound:
        raise not_found("tenant") from None
    except NotOnTrial:
        raise ApiError(409, "the tenant is not on its trial") from None
    return TrialPublic(tenant_id=tenant_id, trial_ends=ends)


@router.post("/{tenant_id}/credits", status_code=201, response_model=CreditPublic)
async def credit(
    tenant_id: UUID, body: CreditRequest, staff: BillingCredit, services: ServicesDep
) -> CreditPublic:
    """Record a credit for the tenant, in cents of its plan's currency (kept by PenguinMails:
    see docs/operations.md for how it is settled)."""
    try:
        row = await credit_tenant(
            services.db, tenant_id, body.amount_cents, body.reason, actor_of(staff)
        )
    except TenantNotFound:
        raise not_found("tenant") from None
    return CreditPublic.model_validate(row)


def _ui(services: Services) -> str:
    settings = services.settings
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace)}"


@router.get("/{tenant_id}/workflows", response_model=TenantWorkflows)
async def list_tenant_workflows(
    tenant_id: UUID,
    staff: TenantsRead,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TenantWorkflows:
    """The tenant's workflows (newest first), found by the `TenantId` search attribute, each
    with a link into the Temporal UI (`TEMPORAL_UI_URL`)."""
    async with services.db.admin_session() as session:
        exists = await TenantRepository(session).get(tenant_id) is not None
    if not exists:
        raise not_found("tenant")
    found = await tenant_workflows(services.temporal, tenant_id, limit)
    await record_staff_reads(
        services.db, [tenant_id], actor_of(staff), "tenant.workflows_viewed", {}
    )
    ui = _ui(services)
    query = f'{TENANT_ID.name}="{tenant_id}"'
    return TenantWorkflows(
        items=[
            WorkflowPublic(
                workflow_id=w.workflow_id,
                run_id=w.run_id,
                workflow_type=w.workflow_type,
                status=w.status,
                started=w.started,
                closed=w.closed,
                url=f"{ui}/workflows/{quote(w.workflow_id, safe='')}"
                + (f"/{quote(w.run_id, safe='')}" if w.run_id else ""),
            )
            for w in found
        ],
        search_url=f"{ui}/workflows?query={quote(query, safe='')}",
    )
