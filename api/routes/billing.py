"""Billing: the public plan catalogue; the tenant's subscription (subscribe, upgrade,
downgrade, cancel at period end, resume), its usage against the plan, its invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter

from api.deps import OwnerDep, Principal, PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.schemas.billing import (
    InvoiceList,
    InvoicePublic,
    PlanPublic,
    PortalLink,
    SubscriptionChange,
    SubscriptionPublic,
    UsageItem,
    UsagePublic,
)
from api.services import Services
from penguinmails.billing import LIMITS
from penguinmails.repositories.payments import PaymentRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.repositories.plans import PlanRepository
from penguinmails.repositories.subscriptions import CurrentSubscription, SubscriptionRepository
from penguinmails.sysconfig import GRACE_DAYS
from usecases.billing import (
    BillingConflict,
    PlanNotFound,
    PortalUnavailable,
    change_plan,
    portal_url,
    set_cancel,
)
from workflows.subscription import SubscriptionView

router = APIRouter(prefix="/v1/billing", tags=["billing"])


@router.get("/plans", response_model=list[PlanPublic])
async def list_plans(services: ServicesDep) -> list[PlanPublic]:
    """The plans on offer (public, no key): limits and features as data."""
    async with services.db.admin_session() as session:
        plans = await PlanRepository(session).list()
    return [PlanPublic.model_validate(p) for p in plans]


def _public(view: SubscriptionView, row: CurrentSubscription) -> SubscriptionPublic:
    return SubscriptionPublic(
        plan_id=UUID(view.plan_id) if view.plan_id else row.plan_id,
        plan_name=row.plan_name,
        status=view.status or row.status,
        stripe_subscription_id=view.stripe_subscription_id,
        current_period_end=_epoch(view.current_period_end),
        cancel_at_period_end=view.cancel_at_period_end,
        grace_ends=_epoch(view.grace_ends),
        trial_ends=row.expires if row.status == "trialing" else None,
        checkout_url=view.checkout_url,
    )


def _epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


async def _current(session: SessionDep, principal: Principal) -> CurrentSubscription:
    row = await SubscriptionRepository(session).current(principal.tenant_id)
    if row is None:
        raise not_found("subscription")
    return row


@router.get("/subscription", response_model=SubscriptionPublic)
async def get_subscription(principal: PrincipalDep, session: SessionDep) -> SubscriptionPublic:
    """The tenant's subscription as last mirrored from Stripe (a new tenant: the trial)."""
    row = await _current(session, principal)
    return SubscriptionPublic(
        plan_id=row.plan_id,
        plan_name=row.plan_name,
        status=row.status,
        stripe_subscription_id=row.stripe_subscription_id,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        grace_ends=row.grace_ends,
        trial_ends=row.expires if row.status == "trialing" else None,
    )


async def _after(
    services: Services, principal: Principal, view: SubscriptionView
) -> SubscriptionPublic:
    async with services.db.tenant_session(principal.tenant_id) as session:
        row = await SubscriptionRepository(session).current(principal.tenant_id)
    assert row is not None
    return _public(view, row)


@router.post(
    "/subscription",
    response_model=SubscriptionPublic,
    responses={
        404: {"description": "no such plan"},
        409: {"description": "the plan is retired or cannot be bought"},
    },
)
async def change_subscription(
    body: SubscriptionChange, principal: OwnerDep, services: ServicesDep
) -> SubscriptionPublic:
    """Subscribe to a paid plan, or upgrade or downgrade. With Stripe Checkout (production)
    the answer carries `checkout_url` for a first subscription; the subscription then
    arrives by webhook."""
    try:
        view = await change_plan(
            services.db,
            services.temporal,
            principal.tenant_id,
            body.plan_id,
            await services.platform.value(GRACE_DAYS),
        )
    except PlanNotFound:
        raise not_found("plan") from None
    except BillingConflict as exc:
        raise ApiError(409, str(exc)) from None
    return await _after(services, principal, view)


async def _cancel(principal: Principal, services: Services, cancel: bool) -> SubscriptionPublic:
    try:
        view = await set_cancel(
            services.temporal,
            principal.tenant_id,
            cancel,
            await services.platform.value(GRACE_DAYS),
        )
    except BillingConflict as exc:
        raise ApiError(409, str(exc)) from None
    return await _after(services, principal, view)


@router.post(
    "/subscription/cancel",
    response_model=SubscriptionPublic,
    responses={409: {"description": "no paid subscription"}},
)
async def cancel_subscription(principal: OwnerDep, services: ServicesDep) -> SubscriptionPublic:
    """Cancel at the end of the current period (the plan's limits hold until then)."""
    return await _cancel(principal, services, True)


@router.post(
    "/subscription/resume",
    response_model=SubscriptionPublic,
    responses={409: {"description": "no paid subscription"}},
)
async def resume_subscription(principal: OwnerDep, services: ServicesDep) -> SubscriptionPublic:
    """Undo a cancel at period end."""
    return await _cancel(principal, services, False)


@router.post(
    "/portal",
    response_model=PortalLink,
    responses={
        409: {"description": "not a Stripe customer yet"},
        501: {"description": "`portal_unavailable`: no customer portal (development)"},
    },
)
async def create_portal_link(principal: OwnerDep, services: ServicesDep) -> PortalLink:
    """A link to Stripe's customer portal (payment methods, invoices, cancellation). The
    development Stripe has none: 501 `portal_unavailable` there."""
    try:
        url = await portal_url(
            services.db, services.secrets, services.settings, principal.tenant_id
        )
    except PortalUnavailable as exc:
        raise ApiError(501, str(exc), code="portal_unavailable") from None
    except BillingConflict as exc:
        raise ApiError(409, str(exc)) from None
    return PortalLink(url=url)


@router.get("/invoices", response_model=InvoiceList)
async def list_invoices(session: SessionDep) -> InvoiceList:
    """The tenant's invoices and their payments, newest first (mirrored from Stripe's
    invoice events)."""
    rows = await PaymentRepository(session).list()
    return InvoiceList(items=[InvoicePublic.model_validate(r) for r in rows])


@router.get("/usage", response_model=UsagePublic)
async def get_usage(principal: PrincipalDep, session: SessionDep) -> UsagePublic:
    """Each limit of the plan, its use, and the period (the calendar month, UTC, of the
    monthly sends). After a downgrade below use, `used` may exceed `allowed`: what exists
    stays, and new ones are refused until use is under the limit."""
    report = await PlanLimitRepository(session, principal.tenant_id).report(LIMITS)
    if report.plan_id is None or report.plan_name is None:
        raise not_found("subscription")
    return UsagePublic(
        plan_id=report.plan_id,
        plan_name=report.plan_name,
        period_start=report.period_start,
        period_end=report.period_end,
        items=[UsageItem(limit=i.limit, allowed=i.allowed, used=i.used) for i in report.items],
    )
