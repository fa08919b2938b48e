"""The Stripe sweeper, started by a Temporal Schedule every few minutes: stored webhook
events whose hand-off to the tenant's `SubscriptionWorkflow` failed (the API answered 5xx
after storing) are handed over, so no event waits on Stripe's next retry, and an event
Stripe stopped retrying is still applied. Handing an event over twice is harmless: the
subscription workflow applies each event id once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.billing import HAND_OVER_STRIPE_EVENTS, HandOverInput, HandOverOutput
    from workflows.names import SUBSCRIPTION, TaskQueue


@dataclass(frozen=True)
class StripeSweepInput:
    limit: int = 100


@workflow.defn(name="StripeSweepWorkflow")
class StripeSweepWorkflow:
    @workflow.run
    async def run(self, data: StripeSweepInput) -> HandOverOutput:
        result: HandOverOutput = await workflow.execute_activity(
            HAND_OVER_STRIPE_EVENTS,
            HandOverInput(SUBSCRIPTION, TaskQueue.BILLING.value, data.limit),
            result_type=HandOverOutput,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=3),
        )
        return result
