"""Mailbox warmup, one per mailbox: the ramp of `warmup_ramp`; while it runs, the
mailbox's campaign sends never exceed today's cap (the capacity function reads it).

A warmup in the pool also exchanges warmup messages during the day: an exchange round at
06:00, 12:00 and 18:00 UTC (`EXCHANGE_ROUND_HOURS`), each tending the
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
        ExchangeInput,
        ExchangeOutput,
    )

from workflows.warmup_ramp import WarmupInput, WarmupRamp, WarmupState

EXCHANGE_PATCH = "warmup-exchange-rounds"
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
        day = deadline - timedelta(days=1)
        for hour in EXCHANGE_ROUND_HOURS:
            at = day + timedelta(hours=hour)
            if at <= workflow.now():
                continue
            if not await self._wait(at):
                return
            if self._state.status != "active":
                continue
            try:
                await workflow.execute_activity(
                    EXCHANGE_WARMUP,
                    ExchangeInput(data.tenant_id, data.warmup_id),
                    result_type=ExchangeOutput,
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=timedelta(minutes=2),
                    retry_policy=ROUND_RETRY,
                )
            except ActivityError:
                workflow.logger.warning("warmup exchange round at %s failed", at.isoformat())
        await self._wait(deadline)
