"""The one adapter to Stripe, through the `stripe` SDK (sync client, run in threads).

Two modes (`STRIPE_MODE`):
- `checkout` (production): plans map to Stripe **Prices**; a first subscription goes
  through a **Checkout Session** (the customer pays there; the subscription arrives by
  webhook); plan changes prorate.
- `direct` (development and tests, against localstripe, which has no Prices and no
  Checkout): plans map to Stripe **Plans**, created on first use; a customer gets the test
  card `pm_card_visa` and the subscription is created at once. Proration parameters are
  left out (localstripe refuses them).
Everything else (cancel at period end, resume, reading subscriptions) is the same call.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import stripe

from activities.interfaces.billing import SubscriptionSnapshot, snapshot_of

T = TypeVar("T")


@dataclass(frozen=True)
class StripePlan:
    """The platform's plan as Stripe needs it (`direct` mode creates it when missing)."""

    stripe_id: str
    name: str
    amount_cents: int
    currency: str
    interval: str  # month, year


@dataclass(frozen=True)
class Subscribed:
    observed: int
    subscription: SubscriptionSnapshot | None = None
    checkout_url: str | None = None


class StripeGateway:
    def __init__(self, api_key: str, api_base: str | None, mode: str, return_url: str = "") -> None:
        addresses = {"api": api_base} if api_base else None
        self.client = stripe.StripeClient(api_key, base_addresses=addresses)  # type: ignore[arg-type]
        self.mode = mode
        self.return_url = return_url

    def __repr__(self) -> str:  # never the key
        return f"StripeGateway(mode={self.mode!r})"

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    # -- customers and plans ------------------------------------------------------------------

    async def ensure_customer(self, customer_id: str | None, tenant_id: str, email: str) -> str:
        if customer_id:
            return customer_id
        customer = await self._run(
            self.client.v1.customers.create,
            params={"email": email, "metadata": {"tenant_id": tenant_id}},
            options={"idempotency_key": f"customer-{tenant_id}"},
        )
        if self.mode == "direct":
            method = await self._run(
                self.client.v1.payment_methods.attach,
                "pm_card_visa",
                params={"customer": customer.id},
            )
            await self._run(
                self.client.v1.customers.update,
                customer.id,
                params={"invoice_settings": {"default_payment_method": method.id}},
            )
        return str(customer.id)

    async def portal_url(self, customer_id: str) -> str:
        """A Stripe billing-portal session for the customer (production Stripe only:
        localstripe has no billing portal), returning to the platform's billing page."""
        session = await self._run(
            self.client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": self.return_url},
        )
        return str(session.url)

    async def ensure_plan(self, plan: StripePlan) -> None:
        """`direct` only: the Stripe Plan of a platform plan, created when missing (a fresh
        localstripe knows none). In production the Prices are made in Stripe's dashboard."""
        if self.mode != "direct":
            return
        try:
            await self._run(self.client.v1.plans.retrieve, plan.stripe_id)
            return
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
        product = await self._run(
            self.client.v1.products.create, params={"name": f"PenguinMails {plan.name}"}
        )
        try:
            await self._run(
                self.client.v1.plans.create,
                params={
                    "id": plan.stripe_id,
                    "product": product.id,
                    "amount": plan.amount_cents,
                    "currency": plan.currency.lower(),
                    "interval": plan.interval,
                },
            )
        except stripe.StripeError as exc:
            if exc.http_status != 409:  # created meanwhile by another attempt
                raise

    # -- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, customer_id: str, stripe_plan: str, tenant_id: str) -> Subscribed:
        metadata = {"tenant_id": tenant_id}
        if self.mode == "checkout":
            session = await self._run(
                self.client.v1.checkout.sessions.create,
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "line_items": [{"price": stripe_plan, "quantity": 1}],
                    "subscription_data": {"metadata": metadata},
                    "success_url": f"{self.return_url}?checkout=success",
                    "cancel_url": f"{self.return_url}?checkout=cancel",
                },
            )
            return Subscribed(observed=int(time.time()), checkout_url=session.url)
        sub = await self._run(
            self.client.v1.subscriptions.create,
            params={
                "customer": customer_id,
                "items": [{"plan": stripe_plan}],
                "metadata": metadata,
            },
        )
        return Subscribed(int(time.time()), snapshot_of(sub.to_dict()))

    async def change_plan(self, subscription_id: str, stripe_plan: str) -> Subscribed:
        sub = await self._run(self.client.v1.subscriptions.retrieve, subscription_id)
        item = sub.to_dict()["items"]["data"][0]["id"]
        params: dict[str, Any] = {"cancel_at_period_end": False}
        if self.mode == "checkout":
            params["items"] = [{"id": item, "price": stripe_plan}]
            params["proration_behavior"] = "create_prorations"
        else:
            params["items"] = [{"id": item, "plan": stripe_plan}]
        sub = await self._run(self.client.v1.subscriptions.update, subscription_id, params=params)
        return Subscribed(int(time.time()), snapshot_of(sub.to_dict()))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> Subscribed:
        sub = await self._run(
            self.client.v1.subscriptions.update,
            subscription_id,
            params={"cancel_at_period_end": cancel},
        )
        return Subscribed(int(time.time()), snapshot_of(sub.to_dict()))

    async def retrieve(self, subscription_id: str) -> SubscriptionSnapshot | None:
        try:
            sub = await self._run(self.client.v1.subscriptions.retrieve, subscription_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
        return snapshot_of(sub.to_dict())

    async def latest_of_customer(self, customer_id: str) -> SubscriptionSnapshot | None:
        """The customer's most recent subscription (any status), or None."""
        page = await self._run(
            self.client.v1.subscriptions.list,
            params={"customer": customer_id, "status": "all", "limit": 10},
        )
        subs = sorted(page.data, key=lambda s: int(s.to_dict().get("created") or 0))
        return snapshot_of(subs[-1].to_dict()) if subs else None
