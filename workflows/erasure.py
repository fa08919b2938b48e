"""Erasure (GDPR): one per person. Cancels the person's running workflows, anonymises the
lead everywhere it appears, keeps a hashed suppression entry, writes the audit record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.erasure import (
        CANCEL_LEAD_WORKFLOWS,
        ERASE_LEAD,
        CancelLeadWorkflowsInput,
        CancelLeadWorkflowsOutput,
        EraseLeadInput,
        EraseLeadOutput,
    )


@dataclass(frozen=True)
class ErasureInput:
    tenant_id: str
    lead_id: str
    actor_type: str = "user"
    actor_id: str | None = None


@dataclass(frozen=True)
class ErasureOutput:
    found: bool
    erased_now: bool
    workflows_cancelled: int = 0
    messages_scrubbed: int = 0


RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))  # from 1 s, doubling


@workflow.defn(name="ErasureWorkflow")
class ErasureWorkflow:
    def __init__(self) -> None:
        self._status = "cancelling"

    @workflow.run
    async def run(self, data: ErasureInput) -> ErasureOutput:
        cancelled: CancelLeadWorkflowsOutput = await workflow.execute_activity(
            CANCEL_LEAD_WORKFLOWS,
            CancelLeadWorkflowsInput(data.tenant_id, data.lead_id, workflow.info().workflow_id),
            result_type=CancelLeadWorkflowsOutput,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
        )
        self._status = "erasing"
        erased: EraseLeadOutput = await workflow.execute_activity(
            ERASE_LEAD,
            EraseLeadInput(data.tenant_id, data.lead_id, data.actor_type, data.actor_id),
            result_type=EraseLeadOutput,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
        )
        self._status = "erased" if erased.found else "not_found"
        return ErasureOutput(
            erased.found, erased.erased_now, cancelled.cancelled, erased.messages_scrubbed
        )

    @workflow.query
    def get_status(self) -> str:
        return self._status
