"""Reconciling the daily roll-ups from the raw events, started by a Temporal Schedule (every
ten minutes; one run at a time). The consumer keeps the roll-ups current as events arrive;
this recomputes the last days from the raw rows, so whatever drifted (a bot rule applied
later, a race between consumers) is corrected, and a run after downtime catches up.

`AnalyticsRetentionWorkflow` (a daily Schedule) deletes raw opens and clicks after 90 days
and warmup interactions after 180 (the guide's retention); the roll-ups stay."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.analytics import (
        APPLY_RETENTION,
        RECONCILE_ANALYTICS,
        ReconcileInput,
        ReconcileOutput,
        RetentionInput,
        RetentionOutput,
    )


@workflow.defn(name="AnalyticsReconcileWorkflow")
class AnalyticsReconcileWorkflow:
    @workflow.run
    async def run(self, data: ReconcileInput) -> ReconcileOutput:
        result: ReconcileOutput = await workflow.execute_activity(
            RECONCILE_ANALYTICS,
            data,
            result_type=ReconcileOutput,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=2), maximum_attempts=5),
        )
        return result


@workflow.defn(name="AnalyticsRetentionWorkflow")
class AnalyticsRetentionWorkflow:
    @workflow.run
    async def run(self, data: RetentionInput) -> RetentionOutput:
        result: RetentionOutput = await workflow.execute_activity(
            APPLY_RETENTION,
            data,
            result_type=RetentionOutput,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=5),
        )
        return result
