"""The platform's Temporal Schedules (client-side definitions, no workflow code), created
when a worker starts (idempotent: an existing
Schedule is left as it is, so an operator's pause or edit survives restarts).

- `schedule:analytics-reconcile`: `AnalyticsReconcileWorkflow` every ten minutes on the
  `infra` queue, one run at a time (a run still going skips the next), catching up at most
  one missed run after downtime (each run recomputes the last three days anyway).
- `schedule:analytics-retention`: `AnalyticsRetentionWorkflow` daily: raw opens and clicks
  older than 90 days, warmup interactions older than 180, deleted.
- `schedule:stripe-sweep`: `StripeSweepWorkflow` every five minutes on the `billing`
  queue: stored Stripe events whose hand-off failed reach their `SubscriptionWorkflow`.
- `schedule:transactional-email`: `TransactionalEmailWorkflow` every minute on the
  `infra` queue: the platform's own e-mail that is due (queued or waiting for a retry).
- `ip-reputation`: `IpReputationWorkflow` every `REPUTATION_CHECK_MINUTES` with the
  configured blocklist zones (`DNSBL_ZONES`); unlike the others it is updated at each start,
  so a change of those settings reaches it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.interfaces.analytics import ReconcileInput, RetentionInput
from activities.interfaces.transactional import SendDueInput
from workflows.analytics_reconcile import AnalyticsReconcileWorkflow, AnalyticsRetentionWorkflow
from workflows.ip_reputation import IpReputationInput, IpReputationWorkflow
from workflows.names import (
    ANALYTICS_RECONCILE,
    ANALYTICS_RECONCILE_SCHEDULE,
    ANALYTICS_RETENTION,
    ANALYTICS_RETENTION_SCHEDULE,
    STRIPE_SWEEP,
    STRIPE_SWEEP_SCHEDULE,
    TRANSACTIONAL_EMAIL,
    TRANSACTIONAL_EMAIL_SCHEDULE,
    TaskQueue,
)
from workflows.stripe_sweep import StripeSweepInput, StripeSweepWorkflow
from workflows.transactional_email import TransactionalEmailWorkflow

log = logging.getLogger(__name__)
RECONCILE_EVERY = timedelta(minutes=10)
RETENTION_EVERY = timedelta(days=1)
STRIPE_SWEEP_EVERY = timedelta(minutes=5)
TRANSACTIONAL_EMAIL_EVERY = timedelta(minutes=1)


def _every(
    run: Any,
    arg: object,
    workflow_id: str,
    queue: TaskQueue,
    every: timedelta,
    catchup_window: timedelta | None = None,
) -> Schedule:
    """`run(arg)` on `queue` every `every`; a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(run, arg, id=workflow_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup_window),
    )


def reconcile_schedule(every: timedelta = RECONCILE_EVERY) -> Schedule:
    return _every(
        AnalyticsReconcileWorkflow.run,
        ReconcileInput(),
        ANALYTICS_RECONCILE,
        TaskQueue.INFRA,
        every,
        catchup_window=timedelta(days=1),
    )


def retention_schedule(every: timedelta = RETENTION_EVERY) -> Schedule:
    return _every(
        AnalyticsRetentionWorkflow.run,
        RetentionInput(),
        ANALYTICS_RETENTION,
        TaskQueue.INFRA,
        every,
        catchup_window=timedelta(days=1),
    )


def stripe_sweep_schedule(every: timedelta = STRIPE_SWEEP_EVERY) -> Schedule:
    # Missed runs are not replayed one by one: the next run takes every pending event.
    return _every(
        StripeSweepWorkflow.run,
        StripeSweepInput(),
        STRIPE_SWEEP,
        TaskQueue.BILLING,
        every,
        catchup_window=every,
    )


def transactional_email_schedule(every: timedelta = TRANSACTIONAL_EMAIL_EVERY) -> Schedule:
    return _every(
        TransactionalEmailWorkflow.run,
        SendDueInput(),
        TRANSACTIONAL_EMAIL,
        TaskQueue.INFRA,
        every,
        catchup_window=every,
    )


REPUTATION_SCHEDULE = "ip-reputation"


def reputation_schedule(zones: list[str], every_minutes: int) -> Schedule:
    return _every(
        IpReputationWorkflow.run,
        IpReputationInput(zones=list(zones)),
        REPUTATION_SCHEDULE,
        TaskQueue.INFRA,
        timedelta(minutes=every_minutes),
    )


async def ensure_reputation_schedule(client: Client, zones: list[str], every_minutes: int) -> None:
    """Created, or updated to the current zones and interval (one for the platform)."""
    schedule = reputation_schedule(zones, every_minutes)
    try:
        await client.create_schedule(REPUTATION_SCHEDULE, schedule)
    except ScheduleAlreadyRunningError:

        async def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(REPUTATION_SCHEDULE).update(update)


async def ensure_schedules(client: Client) -> list[str]:
    """Create the Schedules that do not exist yet; the ids created."""
    created = []
    for schedule_id, schedule in (
        (ANALYTICS_RECONCILE_SCHEDULE, reconcile_schedule()),
        (ANALYTICS_RETENTION_SCHEDULE, retention_schedule()),
        (STRIPE_SWEEP_SCHEDULE, stripe_sweep_schedule()),
        (TRANSACTIONAL_EMAIL_SCHEDULE, transactional_email_schedule()),
    ):
        try:
            await client.create_schedule(schedule_id, schedule)
            created.append(schedule_id)
        except ScheduleAlreadyRunningError:
            pass
    return created


__all__ = [
    "RECONCILE_EVERY",
    "REPUTATION_SCHEDULE",
    "RETENTION_EVERY",
    "STRIPE_SWEEP_EVERY",
    "TRANSACTIONAL_EMAIL_EVERY",
    "ensure_reputation_schedule",
    "ensure_schedules",
    "reconcile_schedule",
    "reputation_schedule",
    "retention_schedule",
    "stripe_sweep_schedule",
    "transactional_email_schedule",
]
