"""Inputs, outputs and names of the billing activities, and the pure reading of Stripe
objects into them: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEED_SUBSCRIPTION = "seed_subscription"
FETCH_SUBSCRIPTION = "fetch_subscription"
READ_STRIPE_EVENT = "read_stripe_event"
RECORD_PAYMENT = "record_payment"
MIRROR_SUBSCRIPTION = "mirror_subscription"
CHANGE_STRIPE_PLAN = "change_stripe_plan"
SET_CANCEL_AT_PERIOD_END = "set_cancel_at_period_end"
NOTIFY_DUNNING = "notify_dunning"
SET_BILLING_PAUSE = "set_billing_pause"
HAND_OVER_STRIPE_EVENTS = "hand_over_stripe_events"
# The subscription workflow as activities start it (by name: they never import workflows).
SUBSCRIPTION_WORKFLOW = "SubscriptionWorkflow"

SIGNAL_STRIPE_EVENT = "stripe_event"
UPDATE_CHANGE_PLAN = "change_plan"
UPDATE_SET_CANCEL = "set_cancel"
QUERY_STATE = "get_state"

# Events that carry a subscription (its state is applied when newer than what is held).
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
)
# Events that carry an invoice (a `payments` row, whatever their order).
INVOICE_EVENTS = (
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.finalized",
)


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """A Stripe subscription as the platform keeps it."""

    stripe_subscription_id: str
    status: str
    stripe_plan: str | None  # the Price (production) or Plan (development) id
    plan_id: str | None = None  # the platform's plan with that Stripe id, when one has it
    current_period_end: int | None = None
    cancel_at_period_end: bool = False


@dataclass(frozen=True)
class InvoiceFacts:
    invoice_id: str
    amount_cents: int
    currency: str
    status: str  # a payments status: succeeded, failed, pending
    paid_at: int | None = None


@dataclass(frozen=True)
class TenantInput:
    tenant_id: str


@dataclass(frozen=True)
class SeedOutput:
    """What Stripe says now (`observed`: Stripe's clock, epoch seconds, when read)."""

    observed: int
    subscription: SubscriptionSnapshot | None = None


@dataclass(frozen=True)
class FetchSubscriptionInput:
    tenant_id: str
    stripe_subscription_id: str


@dataclass(frozen=True)
class ReadEventInput:
    tenant_id: str
    event_id: str


@dataclass(frozen=True)
class EventFacts:
    event_id: str
    type: str
    created: int
    found: bool = True
    subscription: SubscriptionSnapshot | None = None
    invoice: InvoiceFacts | None = None


@dataclass(frozen=True)
class RecordPaymentInput:
    tenant_id: str
    event_id: str
    invoice: InvoiceFacts


@dataclass(frozen=True)
class MirrorInput:
    tenant_id: str
    plan_id: str | None
    status: str
    stripe_subscription_id: str | None
    current_period_end: int | None
    cancel_at_period_end: bool
    stripe_as_of: int | None
    grace_ends: float | None = None  # epoch seconds
    applied_event_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChangePlanInput:
    tenant_id: str
    plan_id: str
    stripe_subscription_id: str | None = None


@dataclass(frozen=True)
class ChangePlanOutput:
    """The subscription after the change (`direct`), or where the customer pays first
    (`checkout`: the subscription arrives by webhook)."""

    observed: int
    subscription: SubscriptionSnapshot | None = None
    checkout_url: str | None = None


@dataclass(frozen=True)
class SetCancelInput:
    tenant_id: str
    stripe_subscription_id: str
    cancel_at_period_end: bool


@dataclass(frozen=True)
class DunningNoticeInput:
    tenant_id: str
    day: int  # 0, 3, 6 of the grace period
    grace_ends: float  # epoch seconds


@dataclass(frozen=True)
class BillingPauseInput:
    tenant_id: str
    paused: bool  # True: add the `billing` reason to every campaign; False: lift it
    campaign_workflow_prefix: str = ""  # `campaign:{tenant}:`, the campaign id follows


@dataclass(frozen=True)
class BillingPauseOutput:
    campaigns: int


@dataclass(frozen=True)
class HandOverInput:
    """The sweeper's: where each tenant's `SubscriptionWorkflow` lives (id
    `{workflow_kind}:{tenant}:{tenant}`, its task queue)."""

    workflow_kind: str = "subscription"
    task_queue: str = "billing"
    limit: int = 100  # events per run, oldest first; the next run takes the rest


@dataclass(frozen=True)
class HandOverOutput:
    handed_over: int


def snapshot_of(obj: dict[str, Any]) -> SubscriptionSnapshot:
    """A Stripe subscription object (API or event payload) as a snapshot."""
    items = (obj.get("items") or {}).get("data") or []
    stripe_plan = None
    if items:
        item = items[0]
        price = item.get("price") or {}
        plan = item.get("plan") or {}
        stripe_plan = (price.get("id") if isinstance(price, dict) else price) or (
            plan.get("id") if isinstance(plan, dict) else plan
        )
    if stripe_plan is None and isinstance(obj.get("plan"), dict):
        stripe_plan = obj["plan"].get("id")
    period_end = obj.get("current_period_end")
    if period_end is None and items:
        period_end = items[0].get("current_period_end")
    return SubscriptionSnapshot(
        stripe_subscription_id=str(obj["id"]),
        status=str(obj.get("status") or "incomplete"),
        stripe_plan=stripe_plan,
        current_period_end=int(period_end) if period_end is not None else None,
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
    )


def invoice_of(obj: dict[str, Any], event_type: str) -> InvoiceFacts:
    if event_type == "invoice.payment_failed":
        status = "failed"
    elif event_type in ("invoice.paid", "invoice.payment_succeeded") or obj.get("paid"):
        status = "succeeded"
    else:
        status = "pending"
    transitions = obj.get("status_transitions") or {}
    paid_at = transitions.get("paid_at") if status == "succeeded" else None
    amount = obj.get("amount_paid") if status == "succeeded" else obj.get("amount_due")
    return InvoiceFacts(
        invoice_id=str(obj["id"]),
        amount_cents=int(amount or 0),
        currency=str(obj.get("currency") or "usd"),
        status=status,
        paid_at=int(paid_at)
        if paid_at
        else (int(obj["created"]) if status == "succeeded" and obj.get("created") else None),
    )
