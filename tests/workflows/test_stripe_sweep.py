"""The Stripe sweeper on the dev server: its Schedule exists once, every five minutes on the
billing queue; a stored event whose hand-off failed reaches the tenant's
`SubscriptionWorkflow` when the Schedule runs (real worker, real activities), and is
marked handed over; the workflow it starts gets the grace days of the system
configuration."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.testing import ActivityEnvironment

from activities.billing import BillingActivities
from activities.interfaces.billing import HandOverInput
from penguinmails.db import Database
from penguinmails.repositories.stripe_events import StripeEventRepository
from penguinmails.repositories.subscriptions import SubscriptionRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.settings import Settings
from penguinmails.sysconfig import GRACE_DAYS
from tests.fixtures.stripe import invoice_object
from usecases.platform import Actor, set_config
from workflows.names import STRIPE_SWEEP_SCHEDULE, TaskQueue, subscription_workflow_id
from workflows.schedules import STRIPE_SWEEP_EVERY, ensure_schedules
from workflows.subscription import SubscriptionInput


async def _wait(admin_conn: asyncpg.Connection, sql: str, *args: Any) -> Any:
    value = None
    for _ in range(150):
        value = await admin_conn.fetchval(sql, *args)
        if value:
            return value
        await asyncio.sleep(0.2)
    return value


async def test_the_schedule_hands_a_stored_event_to_the_subscription_workflow(
    temporal_client: Client, app_worker: Any, db: Database, admin_conn: asyncpg.Connection
) -> None:
    await ensure_schedules(temporal_client)
    assert STRIPE_SWEEP_SCHEDULE not in await ensure_schedules(temporal_client)
    handle = temporal_client.get_schedule_handle(STRIPE_SWEEP_SCHEDULE)
    described = await handle.describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "StripeSweepWorkflow" and action.task_queue == TaskQueue.BILLING
    assert [i.every for i in described.schedule.spec.intervals] == [STRIPE_SWEEP_EVERY]

    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create(f"sweep-{uuid.uuid4()}")).id
        await SubscriptionRepository(session).start_trial(tenant)
    invoice = f"in_sweep_{uuid.uuid4().hex[:8]}"
    event_id = f"evt_{uuid.uuid4().hex[:16]}"
    body = {
        "id": event_id,
        "type": "invoice.payment_succeeded",
        "created": int(time.time()),
        "data": {"object": invoice_object(invoice, "cus_sweep", "sub_sweep", 4900, True)},
    }
    # Stored, as the webhook route does before a hand-off that then failed.
    async with db.admin_session() as session:
        await StripeEventRepository(session).store(
            event_id, body["type"], tenant, body["created"], json.dumps(body)
        )
    assert (
        await admin_conn.fetchval("SELECT handed_off FROM stripe_events WHERE id = $1", event_id)
        is None
    )

    await handle.trigger()
    handed = await _wait(
        admin_conn, "SELECT handed_off IS NOT NULL FROM stripe_events WHERE id = $1", event_id
    )
    assert handed is True
    # The tenant's workflow got it and applied it: the invoice is a payment.
    paid = await _wait(
        admin_conn,
        "SELECT status FROM payments WHERE tenant_id = $1 AND stripe_payment_id = $2",
        tenant,
        invoice,
    )
    assert paid == "succeeded"
    workflow = await temporal_client.get_workflow_handle(
        subscription_workflow_id(tenant)
    ).describe()
    assert workflow.workflow_type == "SubscriptionWorkflow"


async def test_the_sweeper_starts_a_workflow_with_the_configured_grace_days(
    temporal_client: Client, db: Database, settings: Settings, admin_conn: asyncpg.Connection
) -> None:
    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create(f"grace-{uuid.uuid4()}")).id
        await SubscriptionRepository(session).start_trial(tenant)
    event_id = f"evt_{uuid.uuid4().hex[:16]}"
    async with db.admin_session() as session:
        await StripeEventRepository(session).store(
            event_id, "invoice.finalized", tenant, int(time.time()), json.dumps({"id": event_id})
        )
    await set_config(db, Actor("system"), GRACE_DAYS, 11)
    try:
        # A worker process of its own (a fresh cache), with the real activity.
        billing = BillingActivities(db, None, settings, client=temporal_client)
        out = await ActivityEnvironment().run(billing.hand_over_stripe_events, HandOverInput())
    finally:
        await admin_conn.execute("DELETE FROM system_config WHERE key = $1", GRACE_DAYS)
    assert out.handed_over >= 1
    history = await temporal_client.get_workflow_handle(
        subscription_workflow_id(tenant)
    ).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [given] = await temporal_client.data_converter.decode(
        started.input.payloads, [SubscriptionInput]
    )
    assert given == SubscriptionInput(str(tenant), grace_days=11)
