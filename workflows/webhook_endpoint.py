"""One tenant webhook endpoint's deliveries: delivers what is due, sleeps until the next
retry or a `nudge`, and ends when nothing is pending for a while or the endpoint is gone.

Events never travel as signals: they are rows (`webhook_deliveries`), and a publisher sends
one `nudge` per batch of events (signal-with-start), so a run never approaches Temporal's
signal limit whatever the traffic. A slow or failing endpoint holds only its own workflow
and activity slot; every other endpoint has its own. Retry timing is the activity's (the
rows' `next_attempt_at`), so a long outage costs a handful of timers, not a history per
attempt; the run continues as new before its history grows large.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.webhooks import (
        DELIVER_WEBHOOKS,
        WEBHOOK_ENDPOINT_WORKFLOW,
        DeliverWebhooksInput,
        DeliverWebhooksOutput,
        WebhookEndpointInput,
    )

# Rounds per run before continuing as new (each round: one activity and one timer).
MAX_ROUNDS = 500


@workflow.defn(name=WEBHOOK_ENDPOINT_WORKFLOW)
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self._nudged = False
        self._rounds = 0

    @workflow.run
    async def run(self, data: WebhookEndpointInput) -> str:
        while True:
            self._nudged = False  # a nudge during the round asks for another one
            result: DeliverWebhooksOutput = await workflow.execute_activity(
                DELIVER_WEBHOOKS,
                DeliverWebhooksInput(data.tenant_id, data.endpoint_id),
                result_type=DeliverWebhooksOutput,
                start_to_close_timeout=timedelta(minutes=15),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            )
            self._rounds += 1
            if not result.active:
                return "inactive"
            if self._rounds >= MAX_ROUNDS or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(data)
            if self._nudged:
                continue
            if result.next_due_seconds is None:
                try:
                    await workflow.wait_condition(
                        lambda: self._nudged, timeout=timedelta(seconds=data.idle_seconds)
                    )
                except TimeoutError:
                    return "idle"
            else:
                # Woken by a nudge or by the next retry's time, whichever comes first.
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._nudged,
                        timeout=timedelta(seconds=max(1.0, result.next_due_seconds)),
                    )

    @workflow.signal
    def nudge(self) -> None:
        self._nudged = True
