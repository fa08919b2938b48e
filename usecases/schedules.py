"""The platform's Temporal Schedules, created when a worker starts (idempotent: an existing
Schedule is left as it is, so an operator's pause or edit survives restarts).

- `schedule:analytics-reconcile`: `AnalyticsReconcileWorkflow` every ten minutes on the
  `infra` queue, one run at a time (a run still going skips the next), catching up at most
  one missed run after downtime (each run recomputes the last three days anyway).
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

from activities.interfaces.analytics import ReconcileInput
from workflows.analytics_reconcile import AnalyticsReconcileWorkflow
from workflows.names import ANALYTICS_RECONCILE, ANALYTICS_RECONCILE_SCHEDULE, TaskQueue

log = logging.getLogger(__name__)
RECONCILE_EVERY = timedelta(minutes=10)


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


async def ensure_schedules(client: Client) -> list[str]:
    """Create the Schedules that do not exist yet; the ids created."""
    created = []
    try:
        await client.create_schedule(ANALYTICS_RECONCILE_SCHEDULE, reconcile_schedule())
        created.append(ANALYTICS_RECONCILE_SCHEDULE)
    except ScheduleAlreadyRunningError:
        pass
    return created


__all__ = ["RECONCILE_EVERY", "ensure_schedules", "reconcile_schedule"]
