"""The reputation Schedule: `IpReputationWorkflow` every `reputation_check_minutes` with the
configured blocklist zones. Created when a worker starts, updated when the settings change
(idempotent: one schedule for the platform)."""

from __future__ import annotations

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
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from penguinmails.settings import Settings
from workflows.ip_reputation import IpReputationInput, IpReputationWorkflow
from workflows.names import TaskQueue

SCHEDULE_ID = "ip-reputation"


def reputation_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            IpReputationWorkflow.run,
            IpReputationInput(zones=list(settings.dnsbl_zones)),
            id=SCHEDULE_ID,
            task_queue=TaskQueue.INFRA,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(minutes=settings.reputation_check_minutes))
            ]
        ),
        # A check still running when the next is due: skip the next.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reputation_schedule(client: Client, settings: Settings) -> None:
    schedule = reputation_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        async def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(update)


__all__ = ["SCHEDULE_ID", "ensure_reputation_schedule", "reputation_schedule"]
