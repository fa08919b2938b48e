"""The platform's Temporal Schedules (client-side definitions, no workflow code), created
when a worker starts (idempotent: an existing
Schedule is left as it is, so an operator's pause or edit survives restarts).

- `schedule:analytics-reconcile`: `AnalyticsReconcileWorkflow` every ten minutes on the
  `infra` queue, one run at a time (a run still going skips the next), catching up at most
  one missed run after downtime (each run recomputes the last three days anyway).
- `schedule:analytics-retention`: `AnalyticsRetentionWorkflow` daily: raw opens and clicks
  older than 90 days, warmup interactions older than 180, deleted.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from activities.interfaces.analytics import ReconcileInput, RetentionInput
from workflows.analytics_reconcile import AnalyticsReconcileWorkflow, AnalyticsRetentionWorkflow
from workflows.names import (
    ANALYTICS_RECONCILE,
    ANALYTICS_RECONCILE_SCHEDULE,
    ANALYTICS_RETENTION,
    ANALYTICS_RETENTION_SCHEDULE,
    TaskQueue,
)

log = logging.getLogger(__name__)
RECONCILE_EVERY = timedelta(minutes=10)
RETENTION_EVERY = timedelta(days=1)


def reconcile_schedule(every: timedelta = RECONCILE_EVERY) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AnalyticsReconcileWorkflow.run,
            ReconcileInput(),
            id=ANALYTICS_RECONCILE,
            task_queue=TaskQueue.INFRA,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


def retention_schedule(every: timedelta = RETENTION_EVERY) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AnalyticsRetentionWorkflow.run,
            RetentionInput(),
            id=ANALYTICS_RETENTION,
            task_queue=TaskQueue.INFRA,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_schedules(client: Client) -> list[str]:
    """Create the Schedules that do not exist yet; the ids created."""
    created = []
    for schedule_id, schedule in (
        (ANALYTICS_RECONCILE_SCHEDULE, reconcile_schedule()),
        (ANALYTICS_RETENTION_SCHEDULE, retention_schedule()),
    ):
        try:
            await client.create_schedule(schedule_id, schedule)
            created.append(schedule_id)
        except ScheduleAlreadyRunningError:
            pass
    return created


__all__ = [
    "RECONCILE_EVERY",
    "RETENTION_EVERY",
    "ensure_schedules",
    "reconcile_schedule",
    "retention_schedule",
]
