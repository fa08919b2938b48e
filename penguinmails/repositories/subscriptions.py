"""A tenant's subscription: one row per tenant, written at sign-up (the trial) and then
mirrored from its `SubscriptionWorkflow` (Stripe is the source of truth)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.billing import TRIAL_DAYS, TRIAL_PLAN


@dataclass(frozen=True)
class CurrentSubscription:
    id: UUID
    tenant_id: UUID
    plan_id: UUID
    plan_name: str
    plan_stripe_id: str | None
    limits: dict[str, Any]
    features: dict[str, Any]
    status: str
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    stripe_as_of: int | None
    grace_ends: dt.datetime | None
    expires: dt.datetime | None


@dataclass(frozen=True)
class Mirror:
    """What the workflow holds, written onto the row."""

    plan_id: UUID
    status: str
    stripe_subscription_id: str | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    stripe_as_of: int | None
    grace_ends: dt.datetime | None


_CURRENT = """
SELECT s.id, s.tenant_id, s.plan_id, p.plan_name, p.stripe_price_id AS plan_stripe_id,
       p.limits, p.features, s.status, tc.stripe_customer_id, s.stripe_subscription_id,
       s.current_period_end, s.cancel_at_period_end, s.stripe_as_of, s.grace_ends, s.expires
FROM subscriptions s JOIN plans p ON p.id = s.plan_id
LEFT JOIN tenant_config tc ON tc.tenant_id = s.tenant_id
WHERE s.tenant_id = :tenant
ORDER BY s.created DESC LIMIT 1
"""


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start_trial(self, tenant_id: UUID) -> None:
        """The new tenant's row: the trial plan, `trialing` for TRIAL_DAYS. Once per tenant."""
        await self.session.execute(
            text(
                "INSERT INTO subscriptions (tenant_id, plan_id, status, expires, auto_renew) "
                "SELECT :tenant, p.id, 'trialing', now() + make_interval(days => :days), false "
                "FROM plans p WHERE p.plan_name = :trial "
                "AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE tenant_id = :tenant)"
            ),
            {"tenant": tenant_id, "days": TRIAL_DAYS, "trial": TRIAL_PLAN},
        )

    async def current(self, tenant_id: UUID) -> CurrentSubscription | None:
        row = (await self.session.execute(text(_CURRENT), {"tenant": tenant_id})).first()
        return None if row is None else CurrentSubscription(**row._mapping)

    async def set_customer(self, tenant_id: UUID, customer_id: str) -> None:
        await self.session.execute(
            text(
                "INSERT INTO tenant_config (tenant_id, stripe_customer_id) VALUES (:tenant, :c) "
                "ON CONFLICT (tenant_id) DO UPDATE SET stripe_customer_id = EXCLUDED.stripe_customer_id, "
                "updated = now()"
            ),
            {"tenant": tenant_id, "c": customer_id},
        )

    async def tenant_of_customer(self, customer_id: str) -> UUID | None:
        """System role only: which tenant a Stripe customer is (webhooks, before a tenant)."""
        row = (
            await self.session.execute(
                text("SELECT tenant_id FROM tenant_config WHERE stripe_customer_id = :c"),
                {"c": customer_id},
            )
        ).first()
        return None if row is None else UUID(str(row.tenant_id))

    async def mirror(self, tenant_id: UUID, state: Mirror) -> None:
        await self.session.execute(
            text(
                "UPDATE subscriptions SET plan_id = :plan_id, status = :status, "
                "stripe_subscription_id = :sub, current_period_end = :period_end, "
                "cancel_at_period_end = :cancel, stripe_as_of = :as_of, "
                "grace_ends = :grace_ends, auto_renew = NOT :cancel, "
                "expires = CASE WHEN :status = 'trialing' THEN expires ELSE :period_end END, "
                "updated = now() WHERE tenant_id = :tenant"
            ),
            {
                "tenant": tenant_id,
                "plan_id": state.plan_id,
                "status": state.status,
                "sub": state.stripe_subscription_id,
                "period_end": state.current_period_end,
                "cancel": state.cancel_at_period_end,
                "as_of": state.stripe_as_of,
                "grace_ends": state.grace_ends,
            },
        )

    async def billing_email(self) -> str | None:
        """Where Stripe sends receipts: the tenant's first owner (tenant session)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT coalesce((SELECT billing_email FROM tenant_config), "
                    "tu.email, u.email) AS email FROM tenant_users tu "
                    "JOIN users u ON u.id = tu.user_id "
                    "WHERE tu.deleted IS NULL AND tu.roles @> '[\"owner\"]'::jsonb "
                    "ORDER BY tu.created LIMIT 1"
                )
            )
        ).first()
        return None if row is None else str(row.email)

    async def campaigns_to_pause(self, reason: str = "billing") -> list[UUID]:
        """The tenant's campaigns a pause for `reason` (`billing`, `suspension`) reaches:
        those that can send and do not hold that reason yet."""
        rows = await self.session.execute(
            text(
                "SELECT id FROM campaigns WHERE status IN ('scheduled', 'sending', 'paused') "
                "AND NOT (CAST(:reason AS text) = ANY(pause_reasons)) ORDER BY id"
            ),
            {"reason": reason},
        )
        return [UUID(str(r.id)) for r in rows]

    async def campaigns_paused_for(self, reason: str = "billing") -> list[UUID]:
        rows = await self.session.execute(
            text(
                "SELECT id FROM campaigns WHERE CAST(:reason AS text) = ANY(pause_reasons) "
                "ORDER BY id"
            ),
            {"reason": reason},
        )
        return [UUID(str(r.id)) for r in rows]

    async def extend_trial(self, tenant_id: UUID, days: int) -> dt.datetime | None:
        """Move the end of a running trial `days` later (from its end, or from now when it
        has passed); the new end, or None when the tenant is not on a trial."""
        row = (
            await self.session.execute(
                text(
                    "UPDATE subscriptions SET expires = greatest(coalesce(expires, now()), now()) "
                    "+ make_interval(days => :days), updated = now() "
                    "WHERE tenant_id = :tenant AND status = 'trialing' RETURNING expires"
                ),
                {"tenant": tenant_id, "days": days},
            )
        ).first()
        return None if row is None else row.expires

    async def notify(self, kind: str, title: str, message: str, severity: str) -> bool:
        """An in-app notice to the tenant (all members), once per kind and grace period:
        a retried activity writes it once."""
        row = await self.session.execute(
            text(
                "INSERT INTO notifications (tenant_id, type, title, message, channel, severity) "
                "SELECT CAST(current_setting('app.current_tenant_id') AS uuid), :kind, :title, "
                ":message, 'in_app', :severity "
                "WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE type = :kind) RETURNING id"
            ),
            {"kind": kind, "title": title, "message": message, "severity": severity},
        )
        return row.first() is not None
