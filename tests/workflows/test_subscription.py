"""SubscriptionWorkflow's dunning on the time-skipping server: past_due starts the grace
period, notices on day 0, 3 and 6 (real activity: in-app notifications), the campaigns pause
with `billing` at its end, a payment lifts it. The pause itself is recorded by a stand-in
under the real activity's name here (no campaign workflows run on this server); its real
implementation is tested against real campaign workflows in tests/activities/test_billing.py.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import asyncpg
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.interfaces.billing import SET_BILLING_PAUSE, BillingPauseInput, BillingPauseOutput
from penguinmails.db import Database
from penguinmails.repositories.stripe_events import StripeEventRepository
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.users import UserRepository
from penguinmails.settings import Settings
from tests.fixtures.stripe import subscription_object
from workflows.names import subscription_workflow_id, tenant_attributes
from workflows.subscription import (
    StripeEventSignal,
    SubscriptionInput,
    SubscriptionWorkflow,
)


class Pauses:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    @activity.defn(name=SET_BILLING_PAUSE)
    async def set_billing_pause(self, data: BillingPauseInput) -> BillingPauseOutput:
        self.calls.append(data.paused)
        return BillingPauseOutput(1)


async def _store(db: Database, tenant: uuid.UUID, customer: str, status: str, created: int) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:16]}"
    obj = subscription_object("sub_dunning", customer, status, "plan_pm_starter")
    body = {"id": event_id, "type": "customer.subscription.updated", "created": created,
            "data": {"object": obj}}  # fmt: skip
    async with db.admin_session() as session:
        await StripeEventRepository(session).store(
            event_id, body["type"], tenant, created, json.dumps(body)
        )
    return event_id


async def _notices(admin_conn: asyncpg.Connection, tenant: uuid.UUID) -> list[str]:
    rows = await admin_conn.fetch(
        "SELECT type FROM notifications WHERE tenant_id = $1 ORDER BY created", tenant
    )
    return [r["type"].rsplit(".", 1)[-1] for r in rows]


async def test_past_due_grace_notices_pause_and_payment_lifts_it(
    temporal_time_skipping: WorkflowEnvironment,
    db: Database,
    settings: Settings,
    admin_conn: asyncpg.Connection,
) -> None:
    env = temporal_time_skipping
    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create(f"dunning-{uuid.uuid4()}")).id
        await SubscriptionRepository(session).start_trial(tenant)
        users = UserRepository(session)
        owner = await users.create(f"owner-{uuid.uuid4().hex[:8]}@dunning.test")
        await users.add_membership(tenant, owner, ["owner"])
    real = BillingActivities(db, None, settings)
    pauses = Pauses()
    queue = f"billing-{uuid.uuid4().hex[:6]}"
    now = int(time.time())
    past_due = await _store(db, tenant, "cus_dunning", "past_due", now)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[SubscriptionWorkflow],
        activities=[
            real.seed_subscription,
            real.read_stripe_event,
            real.record_payment,
            real.mirror_subscription,
            real.notify_dunning,
            pauses.set_billing_pause,
        ],
    ):
        handle = await env.client.start_workflow(
            SubscriptionWorkflow.run,
            SubscriptionInput(str(tenant), grace_days=7),
            id=subscription_workflow_id(tenant),
            task_queue=queue,
            search_attributes=tenant_attributes(tenant),
            start_signal="stripe_event",
            start_signal_args=[StripeEventSignal(past_due)],
        )
        await env.sleep(timedelta(hours=1))
        state = await handle.query(SubscriptionWorkflow.get_state)
        assert state.status == "past_due" and state.grace_ends is not None
        assert await _notices(admin_conn, tenant) == ["day0"]
        row = await admin_conn.fetchrow(
            "SELECT status, grace_ends FROM subscriptions WHERE tenant_id = $1", tenant
        )
        assert row["status"] == "past_due" and row["grace_ends"] is not None

        await env.sleep(timedelta(days=3))
        assert await _notices(admin_conn, tenant) == ["day0", "day3"]
        assert pauses.calls == []
        await env.sleep(timedelta(days=3))
        assert await _notices(admin_conn, tenant) == ["day0", "day3", "day6"]
        assert pauses.calls == []
        await env.sleep(timedelta(days=1))
        assert pauses.calls == [True]  # the grace period is over: campaigns pause
        assert (await handle.query(SubscriptionWorkflow.get_state)).billing_paused

        # The payment: Stripe says active again; the billing pause is lifted, once.
        paid = await _store(db, tenant, "cus_dunning", "active", now + 60)
        await handle.signal(SubscriptionWorkflow.stripe_event, StripeEventSignal(paid))
        await env.sleep(timedelta(minutes=1))
        assert pauses.calls == [True, False]
        state = await handle.query(SubscriptionWorkflow.get_state)
        assert (state.status, state.grace_ends, state.billing_paused) == ("active", None, False)
        # The same events again change nothing.
        await handle.signal(SubscriptionWorkflow.stripe_event, StripeEventSignal(past_due))
        await env.sleep(timedelta(days=8))
        assert pauses.calls == [True, False]
        assert await _notices(admin_conn, tenant) == ["day0", "day3", "day6"]
        # Each notice went out by e-mail too, once, to the owner.
        mails = await admin_conn.fetch(
            "SELECT to_email, payload->>'day' AS day FROM transactional_emails "
            "WHERE tenant_id = $1 AND type = 'dunning_notice' ORDER BY queued",
            tenant,
        )
        assert [m["day"] for m in mails] == ["0", "3", "6"]
        assert {m["to_email"] for m in mails} == {owner.email}
        row = await admin_conn.fetchrow(
            "SELECT status, grace_ends FROM subscriptions WHERE tenant_id = $1", tenant
        )
        assert (row["status"], row["grace_ends"]) == ("active", None)
        await handle.terminate()
