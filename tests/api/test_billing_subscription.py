"""Subscriptions through localstripe and the tenant's SubscriptionWorkflow; Stripe's
webhooks verified, stored once and applied in Stripe's order whatever the delivery order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx
import stripe
from temporalio.service import RPCError

from devstack.localstripe import DEV_API_KEY, LocalStripe
from tests.api.conftest import Tenant
from tests.fixtures.stripe import (
    WebhookReceiver,
    event,
    invoice_object,
    signature,
    subscription_object,
)


async def plan_ids(api: httpx.AsyncClient) -> dict[str, str]:
    return {p["plan_name"]: p["id"] for p in (await api.get("/v1/billing/plans")).json()}


async def post_event(
    api: httpx.AsyncClient, body: bytes, secret: str, timestamp: int | None = None
) -> httpx.Response:
    return await api.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": signature(body, secret, timestamp)},
    )


async def wait_for(admin_conn: asyncpg.Connection, sql: str, *args: Any, want: Any) -> Any:
    """Poll until the query answers `want` (the workflow applies events asynchronously);
    the last answer otherwise, for the assertion to show."""
    value = None
    for _ in range(300):
        value = await admin_conn.fetchval(sql, *args)
        if value == want:
            return value
        await asyncio.sleep(0.1)
    return value


async def test_subscribe_upgrade_cancel_resume_through_localstripe(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    stripe_webhooks: WebhookReceiver,
    admin_conn: asyncpg.Connection,
) -> None:
    plans = await plan_ids(api)
    r = await api.post(
        "/v1/billing/subscription", json={"plan_id": plans["starter"]}, headers=tenant_a.auth
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["plan_name"]) == ("active", "starter")
    assert body["stripe_subscription_id"].startswith("sub_")
    assert body["checkout_url"] is None  # development: subscribed at once

    mirrored = (await api.get("/v1/billing/subscription", headers=tenant_a.auth)).json()
    assert (mirrored["status"], mirrored["plan_name"]) == ("active", "starter")

    r = await api.post(
        "/v1/billing/subscription", json={"plan_id": plans["growth"]}, headers=tenant_a.auth
    )
    assert r.status_code == 200, r.text
    assert r.json()["plan_name"] == "growth"
    assert r.json()["stripe_subscription_id"] == body["stripe_subscription_id"]

    r = await api.post("/v1/billing/subscription/cancel", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] is True
    r = await api.post("/v1/billing/subscription/resume", headers=tenant_a.auth)
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] is False

    # Stripe agrees with the mirror.
    client = stripe.StripeClient(DEV_API_KEY, base_addresses={"api": _base(api)})
    live = client.v1.subscriptions.retrieve(body["stripe_subscription_id"]).to_dict()
    assert live["items"]["data"][0]["plan"]["id"] == "plan_pm_growth"
    assert live["cancel_at_period_end"] is False

    # localstripe's own webhooks (signed by it) replayed into the API: the invoice paid at
    # subscription becomes a payment.
    customer = live["customer"]
    deliveries = []
    for _ in range(100):
        deliveries = stripe_webhooks.for_customer(customer)
        if any(d.event["type"] == "invoice.payment_succeeded" for d in deliveries):
            break
        await asyncio.sleep(0.1)
    assert deliveries
    for delivery in deliveries:
        r = await api.post(
            "/webhooks/stripe",
            content=delivery.body,
            headers={"Stripe-Signature": delivery.signature},
        )
        assert r.status_code == 200, r.text
    tenant = uuid.UUID(tenant_a.tenant_id)
    paid = await wait_for(
        admin_conn,
        "SELECT count(*) FROM payments WHERE tenant_id = $1 AND status = 'succeeded'",
        tenant,
        want=1,
    )
    assert paid == 1
    invoices = (await api.get("/v1/billing/invoices", headers=tenant_a.auth)).json()["items"]
    assert [i["amount"] for i in invoices] == ["49.00"]
    # The subscription stays as Stripe says (growth, active), whatever the replayed events.
    state = (await api.get("/v1/billing/subscription", headers=tenant_a.auth)).json()
    assert (state["status"], state["plan_name"]) == ("active", "growth")


def _base(api: httpx.AsyncClient) -> str:
    services = api._transport.app.state.services  # type: ignore[attr-defined]
    base: str = services.settings.stripe_api_base
    return base


async def test_subscription_bad_input(api: httpx.AsyncClient, tenant_a: Tenant) -> None:
    r = await api.post(
        "/v1/billing/subscription", json={"plan_id": str(uuid.uuid4())}, headers=tenant_a.auth
    )
    assert r.status_code == 404
    r = await api.post("/v1/billing/subscription", json={"plan_id": "x"}, headers=tenant_a.auth)
    assert r.status_code == 422 and "plan_id" in r.text
    trial = (await plan_ids(api))["trial"]
    r = await api.post("/v1/billing/subscription", json={"plan_id": trial}, headers=tenant_a.auth)
    assert r.status_code == 409
    # Nothing to cancel on the trial.
    r = await api.post("/v1/billing/subscription/cancel", headers=tenant_a.auth)
    assert r.status_code == 409, r.text


async def _tenant_with_customer(
    localstripe: LocalStripe, admin_conn: asyncpg.Connection, tenant: Tenant
) -> str:
    client = stripe.StripeClient(DEV_API_KEY, base_addresses={"api": localstripe.url})
    customer = client.v1.customers.create(params={"email": "billing@example.com"}).id
    await admin_conn.execute(
        "INSERT INTO tenant_config (tenant_id, stripe_customer_id) VALUES ($1, $2) "
        "ON CONFLICT (tenant_id) DO UPDATE SET stripe_customer_id = $2",
        uuid.UUID(tenant.tenant_id),
        customer,
    )
    return str(customer)


async def test_bad_webhooks_change_nothing(
    api: httpx.AsyncClient, stripe_keys: str, admin_conn: asyncpg.Connection
) -> None:
    body = event("customer.created", {"id": "cus_x", "object": "customer"}, int(time.time()))
    event_id = json.loads(body)["id"]
    cases = {
        "wrong secret": {"Stripe-Signature": signature(body, "whsec_wrong")},
        "old timestamp": {
            "Stripe-Signature": signature(body, stripe_keys, int(time.time()) - 3600)
        },
        "no signature": {},
        "garbage header": {"Stripe-Signature": "t=abc,v1=zz"},
    }
    for name, headers in cases.items():
        r = await api.post("/webhooks/stripe", content=body, headers=headers)
        assert r.status_code == 400, (name, r.text)
    garbage = b"{not json"
    r = await post_event(api, garbage, stripe_keys)
    assert r.status_code == 400
    tampered = body.replace(b"customer.created", b"customer.deleted")
    r = await api.post(
        "/webhooks/stripe",
        content=tampered,
        headers={"Stripe-Signature": signature(body, stripe_keys)},
    )
    assert r.status_code == 400
    assert (
        await admin_conn.fetchval("SELECT count(*) FROM stripe_events WHERE id = $1", event_id) == 0
    )
    # The genuine one is stored, once.
    assert (await post_event(api, body, stripe_keys)).json()["status"] == "accepted"
    assert (await post_event(api, body, stripe_keys)).json()["status"] == "duplicate"
    assert (
        await admin_conn.fetchval("SELECT count(*) FROM stripe_events WHERE id = $1", event_id) == 1
    )


async def test_the_same_invoice_event_twice_is_one_payment(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    localstripe: LocalStripe,
    stripe_keys: str,
    admin_conn: asyncpg.Connection,
) -> None:
    customer = await _tenant_with_customer(localstripe, admin_conn, tenant_a)
    body = event(
        "invoice.payment_succeeded",
        invoice_object("in_dup_" + uuid.uuid4().hex[:8], customer, "sub_none", 4900, True),
        int(time.time()),
    )
    for _ in range(2):
        assert (await post_event(api, body, stripe_keys)).status_code == 200
    tenant = uuid.UUID(tenant_a.tenant_id)
    count = await wait_for(
        admin_conn, "SELECT count(*) FROM payments WHERE tenant_id = $1", tenant, want=1
    )
    assert count == 1
    applied = await wait_for(
        admin_conn,
        "SELECT applied IS NOT NULL FROM stripe_events WHERE id = $1",
        json.loads(body)["id"],
        want=True,
    )
    assert applied is True


async def _replay(
    api: httpx.AsyncClient,
    tenant: Tenant,
    localstripe: LocalStripe,
    admin_conn: asyncpg.Connection,
    secret: str,
    seed: int,
) -> tuple[Any, ...]:
    customer = await _tenant_with_customer(localstripe, admin_conn, tenant)
    sub = f"sub_replay_{uuid.uuid4().hex[:8]}"
    t0 = int(time.time()) + 100  # after the workflow's seed
    history = [
        (
            "customer.subscription.created",
            subscription_object(sub, customer, "active", "plan_pm_starter"),
        ),
        (
            "customer.subscription.updated",
            subscription_object(sub, customer, "past_due", "plan_pm_starter"),
        ),
        (
            "customer.subscription.updated",
            subscription_object(sub, customer, "active", "plan_pm_growth"),
        ),
        (
            "customer.subscription.updated",
            subscription_object(
                sub, customer, "active", "plan_pm_scale", cancel_at_period_end=True
            ),
        ),
    ]
    bodies = [event(kind, obj, t0 + 10 * i) for i, (kind, obj) in enumerate(history)]
    bodies.append(
        event(
            "invoice.payment_failed",
            invoice_object("in_f" + sub, customer, sub, 4900, False),
            t0 + 5,
        )
    )
    bodies.append(
        event(
            "invoice.payment_succeeded",
            invoice_object("in_s" + sub, customer, sub, 14900, True),
            t0 + 15,
        )
    )
    deliveries = bodies + random.Random(seed).sample(bodies, 3)  # some twice
    random.Random(seed).shuffle(deliveries)
    for body in deliveries:
        r = await post_event(api, body, secret)
        assert r.status_code == 200, r.text
    tenant_id = uuid.UUID(tenant.tenant_id)
    last = t0 + 30
    as_of = await wait_for(
        admin_conn,
        "SELECT stripe_as_of FROM subscriptions WHERE tenant_id = $1",
        tenant_id,
        want=last,
    )
    assert as_of == last
    row = await admin_conn.fetchrow(
        "SELECT s.status, p.plan_name, s.cancel_at_period_end, s.grace_ends "
        "FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = $1",
        tenant_id,
    )
    payments = await wait_for(
        admin_conn, "SELECT count(*) FROM payments WHERE tenant_id = $1", tenant_id, want=2
    )
    assert payments == 2
    return tuple(row)


async def test_shuffled_replay_ends_in_stripes_state(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    localstripe: LocalStripe,
    stripe_keys: str,
    admin_conn: asyncpg.Connection,
) -> None:
    first = await _replay(api, tenant_a, localstripe, admin_conn, stripe_keys, seed=1)
    second = await _replay(api, tenant_b, localstripe, admin_conn, stripe_keys, seed=7)
    # The last event's state: scale, active, cancelling at period end; no grace left.
    assert first == ("active", "scale", True, None)
    assert second == first


class _TemporalDown:
    """A client whose every start fails, as one does while Temporal is unreachable."""

    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        from temporalio.service import RPCError, RPCStatusCode

        raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")


async def test_a_failed_hand_off_is_not_a_duplicate_on_retry(
    api: httpx.AsyncClient,
    tenant_a: Tenant,
    localstripe: LocalStripe,
    stripe_keys: str,
    admin_conn: asyncpg.Connection,
) -> None:
    from penguinmails.db import Database
    from usecases.billing import hand_over_stored, receive_stripe_event

    services = api._transport.app.state.services  # type: ignore[attr-defined]
    db: Database = services.db
    customer = await _tenant_with_customer(localstripe, admin_conn, tenant_a)
    body = event(
        "invoice.payment_succeeded",
        invoice_object("in_retry_" + uuid.uuid4().hex[:8], customer, "sub_x", 2500, True),
        int(time.time()),
    )
    parsed = json.loads(body)
    try:
        await receive_stripe_event(db, _TemporalDown(), parsed, 7)  # type: ignore[arg-type]
    except Exception as exc:
        assert "unavailable" in str(exc)
    else:
        raise AssertionError("the hand-off did not fail")
    row = await admin_conn.fetchrow(
        "SELECT handed_off FROM stripe_events WHERE id = $1", parsed["id"]
    )
    assert row is not None and row["handed_off"] is None  # stored, not handed over
    # Stripe's retry: stored already, yet handed over now (not answered as a duplicate).
    r = await post_event(api, body, stripe_keys)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    tenant = uuid.UUID(tenant_a.tenant_id)
    paid = await wait_for(
        admin_conn, "SELECT count(*) FROM payments WHERE tenant_id = $1", tenant, want=1
    )
    assert paid == 1
    # And the sweeper hands over what a failed hand-off left behind.
    other = event(
        "invoice.payment_succeeded",
        invoice_object("in_sweep_" + uuid.uuid4().hex[:8], customer, "sub_x", 2500, True),
        int(time.time()),
    )
    with contextlib.suppress(RPCError):
        await receive_stripe_event(db, _TemporalDown(), json.loads(other), 7)  # type: ignore[arg-type]
    assert await hand_over_stored(db, services.temporal, 7) >= 1
    paid = await wait_for(
        admin_conn, "SELECT count(*) FROM payments WHERE tenant_id = $1", tenant, want=2
    )
    assert paid == 2
