"""The endpoint workflow's orchestration on the time-skipping server, with a fake delivery
activity under the real name (the real one is tested against Postgres and a receiver in
tests/api/test_webhooks.py): it sleeps until the next retry is due, a nudge wakes it at
once, it ends when the endpoint is disabled or when nothing has been pending for a while."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.search import TENANT_ID
from activities.interfaces.webhooks import (
    DELIVER_WEBHOOKS,
    DeliverWebhooksInput,
    DeliverWebhooksOutput,
    WebhookEndpointInput,
)
from activities.webhooks import endpoint_workflow_id, nudge_endpoints
from workflows.webhook_endpoint import WebhookEndpointWorkflow


async def test_sleeps_until_due_wakes_on_a_nudge_and_ends_when_idle_or_disabled(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    env = temporal_time_skipping
    calls: list[float] = []
    # What each round of the fake activity answers, in order.
    answers = [
        DeliverWebhooksOutput(active=True, retrying=1, next_due_seconds=600),
        DeliverWebhooksOutput(active=True, delivered=1, next_due_seconds=None),
        DeliverWebhooksOutput(active=True, delivered=1, next_due_seconds=None),
    ]

    @activity.defn(name=DELIVER_WEBHOOKS)
    async def deliver(data: DeliverWebhooksInput) -> DeliverWebhooksOutput:
        calls.append((await env.get_current_time()).timestamp())
        return answers.pop(0) if answers else DeliverWebhooksOutput(active=False)

    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=[WebhookEndpointWorkflow], activities=[deliver]
    ):
        data = WebhookEndpointInput("t1", "e1", idle_seconds=3600)
        handle = await env.client.start_workflow(
            WebhookEndpointWorkflow.run,
            data,
            id=f"webhook-endpoint:t1:{uuid.uuid4()}",
            task_queue=queue,
        )
        # Round 1 asks for a retry in 10 minutes; round 2 runs then (timer, not a poll);
        # round 3 comes from a nudge; then an hour of nothing ends the run.
        await env.sleep(timedelta(minutes=11))
        assert len(calls) == 2
        assert 600 <= calls[1] - calls[0] < 610
        await handle.signal(WebhookEndpointWorkflow.nudge)
        assert await handle.result() == "idle"
    assert len(calls) == 3

    # A disabled endpoint ends the run at once.
    async with Worker(
        env.client, task_queue=queue, workflows=[WebhookEndpointWorkflow], activities=[deliver]
    ):
        handle = await env.client.start_workflow(
            WebhookEndpointWorkflow.run,
            data,
            id=f"webhook-endpoint:t1:{uuid.uuid4()}",
            task_queue=queue,
        )
        assert await handle.result() == "inactive"


async def test_an_endpoint_woken_by_an_event_carries_its_tenant(temporal_client: Client) -> None:
    """However it is started (a test event, a consumer batch, an activity after its commit),
    an endpoint's workflow carries `TenantId` (DESIGN rule 6): staff find it in the UI."""
    tenant, endpoint = uuid.uuid4(), uuid.uuid4()
    await nudge_endpoints(temporal_client, tenant, [endpoint])
    handle = temporal_client.get_workflow_handle(endpoint_workflow_id(tenant, endpoint))
    try:
        described = await handle.describe()
        assert described.typed_search_attributes.get(TENANT_ID) == str(tenant)
    finally:
        await handle.terminate()
