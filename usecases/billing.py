"""Billing use cases shared by the API and the CLI: receiving Stripe's webhooks (store, then
hand the event's id to the tenant's `SubscriptionWorkflow`), changing the plan and
cancelling or resuming through that workflow's updates, and reading usage against the plan.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import stripe
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from penguinmails.db import Database
from penguinmails.repositories.plans import PlanRepository
from penguinmails.repositories.stripe_events import StripeEventRepository
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from workflows.names import TaskQueue, subscription_workflow_id, tenant_attributes
from workflows.subscription import (
    CancelRequest,
    ChangePlanRequest,
    StripeEventSignal,
    SubscriptionInput,
    SubscriptionView,
    SubscriptionWorkflow,
)


class BadWebhook(Exception):
    """Not a verified Stripe event (signature, timestamp or body)."""


class PlanNotFound(Exception):
    pass


class BillingConflict(Exception):
    pass


class PortalUnavailable(Exception):
    """No customer portal here: localstripe (`STRIPE_MODE=direct`) has none."""


@dataclass(frozen=True)
class Received:
    event_id: str
    tenant_id: UUID | None
    duplicate: bool  # stored (and handed over) by an earlier delivery


# The webhook secret from Vault, kept for a minute per process (a rotation is seen within it).
_secret_cache: dict[str, tuple[float, str]] = {}


async def webhook_secret(store: SecretStore, path: str) -> str | None:
    hit = _secret_cache.get(path)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    record = await store.read(path)
    secret = (record or {}).get("webhook_secret")
    if secret:
        _secret_cache[path] = (time.monotonic() + 60, secret)
    return secret


def verify(payload: bytes, signature: str, secret: str, tolerance: int) -> dict[str, Any]:
    """The event, once `Stripe-Signature` verifies over the raw body within `tolerance`."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        raise BadWebhook(f"signature: {exc.user_message or 'does not verify'}") from None
    except ValueError:
        raise BadWebhook("the body is not a Stripe event") from None
    body: dict[str, Any] = event.to_dict()
    if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise BadWebhook("the event has no id or type")
    if not isinstance(body.get("created"), int):
        raise BadWebhook("the event has no created time")
    return body


async def _tenant_of(db: Database, event: dict[str, Any]) -> UUID | None:
    obj = (event.get("data") or {}).get("object") or {}
    customer = obj.get("customer") if obj.get("object") != "customer" else obj.get("id")
    async with db.admin_session() as session:
        if isinstance(customer, str):
            tenant = await SubscriptionRepository(session).tenant_of_customer(customer)
            if tenant is not None:
                return tenant
    raw = (obj.get("metadata") or {}).get("tenant_id")
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def hand_off(client: Client, tenant_id: UUID, event_id: str, grace_days: int) -> None:
    """Signal-with-start: the tenant's workflow gets the event's id, started if it is not."""
    await client.start_workflow(
        SubscriptionWorkflow.run,
        SubscriptionInput(str(tenant_id), grace_days),
        id=subscription_workflow_id(tenant_id),
        task_queue=TaskQueue.BILLING,
        search_attributes=tenant_attributes(tenant_id),
        start_signal="stripe_event",
        start_signal_args=[StripeEventSignal(event_id)],
    )


async def receive_stripe_event(
    db: Database, client: Client, event: dict[str, Any], grace_days: int
) -> Received:
    """Store the verified event (unique on its id), then hand its id over. A failed hand-off
    raises after the store: the caller answers 5xx, Stripe retries, and the retry finds the
    event stored but not handed over, and hands it over."""
    tenant = await _tenant_of(db, event)
    async with db.admin_session() as session:
        if tenant is not None and not await _tenant_exists(session, tenant):
            tenant = None
        stored = await StripeEventRepository(session).store(
            event["id"], event["type"], tenant, int(event["created"]), json.dumps(event)
        )
    if stored.tenant_id is None or stored.handed_off:
        return Received(stored.id, stored.tenant_id, duplicate=not stored.inserted)
    await hand_off(client, stored.tenant_id, stored.id, grace_days)
    async with db.admin_session() as session:
        await StripeEventRepository(session).mark_handed_off(stored.id)
    return Received(stored.id, stored.tenant_id, False)


async def _tenant_exists(session: Any, tenant: UUID) -> bool:
    from penguinmails.repositories.tenants import TenantRepository

    return await TenantRepository(session).get(tenant) is not None


async def hand_over_stored(db: Database, client: Client, grace_days: int) -> int:
    """The sweeper: hand over stored events whose hand-off failed (oldest first)."""
    async with db.admin_session() as session:
        pending = await StripeEventRepository(session).unhanded()
    for event in pending:
        assert event.tenant_id is not None
        await hand_off(client, event.tenant_id, event.id, grace_days)
        async with db.admin_session() as session:
            await StripeEventRepository(session).mark_handed_off(event.id)
    return len(pending)


async def portal_url(
    db: Database, secrets: SecretStore | None, settings: Settings, tenant_id: UUID
) -> str:
    """A link to Stripe's customer portal (payment methods, invoices, cancel) for the
    tenant. PortalUnavailable in development; BillingConflict before the tenant is a Stripe
    customer (its first paid plan makes it one)."""
    from activities.stripe_gateway import StripeGateway

    if settings.stripe_mode == "direct":
        raise PortalUnavailable("the development Stripe (localstripe) has no customer portal")
    async with db.tenant_session(tenant_id) as session:
        current = await SubscriptionRepository(session).current(tenant_id)
    if current is None or current.stripe_customer_id is None:
        raise BillingConflict("no Stripe customer yet: subscribe to a paid plan first")
    record = await secrets.read(settings.stripe_secret_path) if secrets is not None else None
    if not record or not record.get("api_key"):
        raise PortalUnavailable(f"no Stripe api_key in Vault at {settings.stripe_secret_path}")
    gateway = StripeGateway(
        record["api_key"],
        settings.stripe_api_base,
        settings.stripe_mode,
        return_url=f"{settings.public_base_url.rstrip('/')}/billing",
    )
    return await gateway.portal_url(current.stripe_customer_id)


async def _update(
    client: Client, tenant_id: UUID, grace_days: int, update: Any, request: Any
) -> SubscriptionView:
    operation = WithStartWorkflowOperation(
        SubscriptionWorkflow.run,
        SubscriptionInput(str(tenant_id), grace_days),
        id=subscription_workflow_id(tenant_id),
        task_queue=TaskQueue.BILLING,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=tenant_attributes(tenant_id),
    )
    try:
        view: SubscriptionView = await client.execute_update_with_start_workflow(
            update, request, start_workflow_operation=operation, result_type=SubscriptionView
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        raise BillingConflict(message) from None
    return view


async def change_plan(
    db: Database, client: Client, tenant_id: UUID, plan_id: UUID, grace_days: int
) -> SubscriptionView:
    """Subscribe, upgrade or downgrade. 404 for a plan that does not exist; a retired plan
    or the trial cannot be chosen (conflict)."""
    async with db.tenant_session(tenant_id) as session:
        plan = await PlanRepository(session).get(plan_id)
    if plan is None:
        raise PlanNotFound(str(plan_id))
    if not plan.is_active:
        raise BillingConflict("the plan is retired: choose another")
    if plan.stripe_price_id is None:
        raise BillingConflict("the plan cannot be bought (no Stripe price)")
    return await _update(
        client,
        tenant_id,
        grace_days,
        SubscriptionWorkflow.change_plan,
        ChangePlanRequest(str(plan_id)),
    )


async def set_cancel(
    client: Client, tenant_id: UUID, cancel: bool, grace_days: int
) -> SubscriptionView:
    return await _update(
        client, tenant_id, grace_days, SubscriptionWorkflow.set_cancel, CancelRequest(cancel)
    )


@dataclass(frozen=True)
class Usage:
    plan_id: UUID
    plan_name: str
    period_start: dt.datetime
    period_end: dt.datetime
    items: list[tuple[str, int | None, int]]  # (limit, allowed, used)
