"""IP warmup, one per sending IP: the ramp of `warmup_ramp`, the IP `warming` -> `warmed`
(or `burned`), its domains' assignments following."""

from __future__ import annotations

from temporalio import workflow

from workflows.warmup_ramp import WarmupInput, WarmupRamp, WarmupState


@workflow.defn(name="IpWarmupWorkflow")
class IpWarmupWorkflow(WarmupRamp):
    @workflow.run
    async def run(self, data: WarmupInput) -> WarmupState:
        return await self._run(data)
