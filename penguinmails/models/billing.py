"""Billing: the global plan catalogue, and each tenant's subscriptions and payments (Stripe
is the source of truth; these rows mirror what its webhooks report)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    id_field,
    jsonb_field,
    now_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

BILLING_CYCLES = ("monthly", "yearly")
# Stripe's subscription statuses.
SUBSCRIPTION_STATUSES = (
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
)
PAYMENT_STATUSES = ("pending", "processing", "succeeded", "failed", "canceled", "refunded")


class Plan(Timestamped, table=True):
    """Global: the same catalogue for every tenant."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("plan_name", name="uq_plans_plan_name"),
        UniqueConstraint("stripe_price_id", name="uq_plans_stripe_price_id"),
    )

    id: UUID = id_field()
    plan_name: str
    price: Decimal = Field(max_digits=10, decimal_places=2)
    currency: str = "USD"
    billing_cycle: str = "monthly"
    stripe_price_id: str | None = None
    features: dict[str, Any] = jsonb_field()
    limits: dict[str, Any] = jsonb_field()
    is_active: bool = True


class Subscription(TenantScoped, Timestamped, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = tenant_table_args(
        "subscriptions",
        UniqueConstraint("stripe_subscription_id", name="uq_subscriptions_stripe_subscription_id"),
        ForeignKeyConstraint(["plan_id"], ["plans.id"], name="fk_subscriptions_plan"),
        ForeignKeyConstraint(
            ["pending_plan_id"], ["plans.id"], name="fk_subscriptions_pending_plan"
        ),
        tenant_fk(
            "subscriptions",
            "billing_contact_user_id",
            "tenant_users",
            parent_column="user_id",
            # Removing the member keeps the subscription and clears the contact only.
            ondelete="SET NULL (billing_contact_user_id)",
            name="fk_subscriptions_billing_contact",
        ),
    )

    id: UUID = id_field()
    plan_id: UUID
    pending_plan_id: UUID | None = None
    billing_contact_user_id: UUID | None = None
    stripe_subscription_id: str | None = None
    status: str = "active"
    started: datetime = now_field()
    expires: datetime | None = timestamp_field()
    auto_renew: bool = True
    current_period_end: datetime | None = timestamp_field()
    cancel_at_period_end: bool = False
    # The Stripe time (`created` of the event, epoch seconds) of the state this row holds.
    stripe_as_of: int | None = Field(default=None, sa_type=BigInteger)
    grace_ends: datetime | None = timestamp_field()


class AccountCredit(TenantScoped, table=True):
    """A credit staff granted the tenant (cents), with why and who. Recorded here only: the
    development Stripe server has no customer balance transactions to mirror it into."""

    __tablename__ = "account_credits"
    __table_args__ = tenant_table_args(
        "account_credits",
        ForeignKeyConstraint(
            ["staff_user_id"],
            ["users.id"],
            name="fk_account_credits_staff_user",
            ondelete="SET NULL",
        ),
    )

    id: UUID = id_field()
    amount_cents: int = Field(sa_type=BigInteger)
    currency: str = "USD"
    reason: str
    staff_user_id: UUID | None = None  # the staff member's user (global: a plain key)
    created: datetime = now_field()


class StripeEvent(Timestamped, table=True):
    """Global and staff only: every verified webhook event, unique on Stripe's id."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_stripe_events_tenant", ondelete="CASCADE"
        ),
    )

    id: str = Field(primary_key=True)
    type: str
    tenant_id: UUID | None = None
    stripe_created: int = Field(sa_type=BigInteger)
    payload: dict[str, Any] = jsonb_field()
    handed_off: datetime | None = timestamp_field()
    applied: datetime | None = timestamp_field()


class Payment(TenantScoped, Timestamped, table=True):
    __tablename__ = "payments"
    __table_args__ = tenant_table_args(
        "payments",
        UniqueConstraint("stripe_payment_id", name="uq_payments_stripe_payment_id"),
        tenant_fk("payments", "subscription_id", "subscriptions"),
        tenant_fk(
            "payments",
            "initiated_by_user_id",
            "tenant_users",
            parent_column="user_id",
            ondelete="SET NULL (initiated_by_user_id)",
            name="fk_payments_initiated_by",
        ),
    )

    id: UUID = id_field()
    subscription_id: UUID | None = None
    initiated_by_user_id: UUID | None = None
    stripe_payment_id: str | None = None
    amount: Decimal = Field(max_digits=10, decimal_places=2)
    currency: str = "USD"
    status: str
    paid: datetime | None = timestamp_field()


__all__ = [
    "BILLING_CYCLES",
    "PAYMENT_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "AccountCredit",
    "Payment",
    "Plan",
    "StripeEvent",
    "Subscription",
]
