"""IP reputation check, started by a Temporal Schedule: every live IP of every tenant is
looked up in the configured DNS blocklists; a listed IP is quarantined (its domains
rotated by the activity) and its warmup, if one runs, told with a `blocklist` signal.

Short-lived (one run per schedule tick), so no continue-as-new; IPs are checked in
batches so a large pool neither floods the resolver nor grows one huge fan-out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
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
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.reputation import (
        CHECK_IP_REPUTATION,
        LIST_LIVE_IPS,
        CheckIpInput,
        CheckIpOutput,
        ListLiveIpsOutput,
    )
    from workflows.names import IP_WARMUP, workflow_id


@dataclass(frozen=True)
class IpReputationInput:
    zones: list[str] = field(default_factory=list)
    batch_size: int = 20


@dataclass
class IpReputationResult:
    checked: int = 0
    listed: list[str] = field(default_factory=list)  # addresses
    quarantined: list[str] = field(default_factory=list)
    moved_domains: list[str] = field(default_factory=list)


@workflow.defn(name="IpReputationWorkflow")
class IpReputationWorkflow:
    @workflow.run
    async def run(self, data: IpReputationInput) -> IpReputationResult:
        result = IpReputationResult()
        live: ListLiveIpsOutput = await workflow.execute_activity(
            LIST_LIVE_IPS,
            result_type=ListLiveIpsOutput,
            start_to_close_timeout=timedelta(minutes=1),
        )
        for start in range(0, len(live.ips), max(data.batch_size, 1)):
            batch = live.ips[start : start + data.batch_size]
            outputs = await asyncio.gather(
                *(
                    workflow.execute_activity(
                        CHECK_IP_REPUTATION,
                        CheckIpInput(ip.tenant_id, ip.ip_id, ip.ip, list(data.zones)),
                        result_type=CheckIpOutput,
                        start_to_close_timeout=timedelta(minutes=2),
                        retry_policy=RetryPolicy(maximum_attempts=3),
                    )
                    for ip in batch
                )
            )
            for ip, out in zip(batch, outputs, strict=True):
                result.checked += 1
                if out.listed_on:
                    result.listed.append(ip.ip)
                    await self._tell_warmup(ip.tenant_id, ip.ip_id)
                if out.quarantined:
                    result.quarantined.append(ip.ip)
                result.moved_domains += out.moved_domains
        return result

    async def _tell_warmup(self, tenant_id: str, ip_id: str) -> None:
        handle = workflow.get_external_workflow_handle(workflow_id(IP_WARMUP, tenant_id, ip_id))
        try:
            await handle.signal("reputation", {"kind": "blocklist", "detail": None})
        except Exception:
            workflow.logger.info("no warmup of IP %s to tell", ip_id)


# --- the Schedule (client side; the worker creates it at start) ------------------------------

SCHEDULE_ID = "ip-reputation"


def reputation_schedule(zones: list[str], every_minutes: int, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            IpReputationWorkflow.run,
            IpReputationInput(zones=list(zones)),
            id=SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=every_minutes))]),
        # A check still running when the next is due: skip the next.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reputation_schedule(client: Client, schedule: Schedule) -> None:
    """Create the platform's one schedule, or update it to the settings of this start."""
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        async def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(update)
