"""Mailbox warmup, one per mailbox: the ramp of `warmup_ramp`; while it runs, the
mailbox's campaign sends never exceed today's cap (the capacity function reads it)."""

from __future__ import annotations

from temporalio import workflow

from workflows.warmup_ramp import WarmupInput, WarmupRamp, WarmupState


@workflow.defn(name="MailboxWarmupWorkflow")
class MailboxWarmupWorkflow(WarmupRamp):
    @workflow.run
    async def run(self, data: WarmupInput) -> WarmupState:
        return await self._run(data)
