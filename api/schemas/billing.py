"""Billing: the plan catalogue, the tenant's subscription, its usage and its invoices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from penguinmails.billing import FEATURES, LIMITS


class PlanPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    plan_name: str
    price: Decimal
    currency: str
    billing_cycle: str
    limits: dict[str, int | None]
    features: dict[str, bool]
    is_active: bool


class PlanCreate(BaseModel):
    """A new plan (staff). Every limit and feature is named; a null limit is unlimited."""

    model_config = ConfigDict(extra="forbid")

    plan_name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    price: Decimal = Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    billing_cycle: Literal["monthly", "yearly"] = "monthly"
    stripe_price_id: str | None = Field(default=None, min_length=1, max_length=255)
    limits: dict[str, int | None]
    features: dict[str, bool]

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        if set(value) != set(LIMITS):
            raise ValueError(f"limits must name exactly: {', '.join(LIMITS)}")
        if any(v is not None and not 0 <= v <= 1_000_000_000 for v in value.values()):
            raise ValueError("a limit is between 0 and 1000000000, or null (unlimited)")
        return value

    @field_validator("features")
    @classmethod
    def _features(cls, value: dict[str, bool]) -> dict[str, bool]:
        if set(value) != set(FEATURES):
            raise ValueError(f"features must name exactly: {', '.join(FEATURES)}")
        return value


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: UUID = Field(description="The plan to subscribe, upgrade or downgrade to.")


class PortalLink(BaseModel):
    url: str = Field(description="Stripe's customer portal for this tenant; open it soon")


class SubscriptionPublic(BaseModel):
    plan_id: UUID
    plan_name: str
    status: str
    stripe_subscription_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    grace_ends: datetime | None
    trial_ends: datetime | None = None
    checkout_url: str | None = Field(
        default=None,
        description="Where the customer completes payment (production's Stripe Checkout), "
        "when the change needs it; null when the change is done.",
    )


class UsageItem(BaseModel):
    limit: str
    allowed: int | None = Field(description="null: unlimited")
    used: int


class UsagePublic(BaseModel):
    plan_id: UUID
    plan_name: str
    period_start: datetime
    period_end: datetime
    items: list[UsageItem]


class InvoicePublic(BaseModel):
    id: UUID
    invoice_id: str | None
    amount: Decimal
    currency: str
    status: str
    paid: datetime | None
    created: datetime


class InvoiceList(BaseModel):
    items: list[InvoicePublic]
