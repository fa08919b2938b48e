"""Mailbox warmup, one per mailbox: the ramp of `warmup_ramp`; while it runs, the
mailbox's campaign sends never exceed today's cap (the capacity function reads it).

A warmup in the pool also exchanges warmup messages during the day: an exchange round at
06:00, 12:00 and 18:00 UTC (`EXCHANGE_ROUND_HOURS`; with simulated days, at the same
fractions of the simulated day: 1/4, 1/2, 3/4), each tending the
mailbox's inbox and sending a third of the day's warmup volume (which follows the ramp's
cap). A warmup outside the pool runs the same rounds and the activity answers at once that
there is nothing to do (joining the pool later needs no new workflow). Rounds are skipped
while the warmup is paused or held.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.warmups import (
        EXCHANGE_ROUND_HOURS,
        EXCHANGE_WARMUP,
        OTHER_HOST,
        ExchangeInput,
        ExchangeOutput,
    )

from workflows.names import vps_sending_queue
from workflows.warmup_ramp import WarmupInput, WarmupRamp, WarmupState

EXCHANGE_PATCH = "warmup-exchange-rounds"
MAX_HOPS = 3  # shared queue, the server's, and back (an assignment moved meanwhile)
HOST_START = timedelta(minutes=5)  # a server's worker that does not take the round by then
# A round that cannot finish is given up (the next one tends what it left).
ROUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=5,
)


@workflow.defn(name="MailboxWarmupWorkflow")
class MailboxWarmupWorkflow(WarmupRamp):
    @workflow.run
    async def run(self, data: WarmupInput) -> WarmupState:
        return await self._run(data)

    async def _until(self, data: WarmupInput, deadline: datetime) -> None:
        if not workflow.patched(EXCHANGE_PATCH):
            await self._wait(deadline)
            return
        length = self._day_length(data)
        day = deadline - length
        for hour in EXCHANGE_ROUND_HOURS:
            at = day + length * hour / 24  # exactly `hour` hours in a real day
            if at <= workflow.now():
                continue
            if not await self._wait(at):
                return
            if self._state.status != "active":
                continue
            try:
                await self._exchange(data)
            except ActivityError:
                workflow.logger.warning("warmup exchange round at %s failed", at.isoformat())
        await self._wait(deadline)

    async def _exchange(self, data: WarmupInput) -> None:
        """One round, on the shared queue first; a mailbox whose domain sends from a
        server's IP is sent to that server's own queue (its worker alone can bind the IP),
        as the lead sequence does with a send. A server whose worker does not take the call
        within HOST_START costs this round only."""
        queue: str | None = None
        for _ in range(MAX_HOPS):
            out: ExchangeOutput = await workflow.execute_activity(
                EXCHANGE_WARMUP,
                ExchangeInput(data.tenant_id, data.warmup_id),
                result_type=ExchangeOutput,
                task_queue=queue,
                schedule_to_start_timeout=HOST_START if queue else None,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=ROUND_RETRY,
            )
            if out.skipped != OTHER_HOST:
                return
            queue = vps_sending_queue(out.host_vps_id) if out.host_vps_id else None
