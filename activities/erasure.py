"""Erasure activities: cancel the person's running workflows, then anonymise."""

from __future__ import annotations

from uuid import UUID

from temporalio import activity

from activities.interfaces.erasure import (
    CANCEL_LEAD_WORKFLOWS,
    ERASE_LEAD,
    CancelLeadWorkflowsInput,
    CancelLeadWorkflowsOutput,
    EraseLeadInput,
    EraseLeadOutput,
)
from penguinmails.db import Database
from penguinmails.repositories.erasure import AnalyticsErasureRepository, ErasureRepository


def lead_workflows_query(tenant_id: str, lead_id: str) -> str:
    """Every running workflow of this person: the hook the campaign engine fills by
    tagging its lead-sequence workflows with LeadId (DESIGN rule 6)."""
    UUID(tenant_id), UUID(lead_id)  # ids only: nothing else reaches the query
    return f"TenantId = '{tenant_id}' AND LeadId = '{lead_id}' AND ExecutionStatus = 'Running'"


class ErasureActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=CANCEL_LEAD_WORKFLOWS)
    async def cancel_lead_workflows(
        self, data: CancelLeadWorkflowsInput
    ) -> CancelLeadWorkflowsOutput:
        """Idempotent: cancelling a workflow twice, or one that has ended, is harmless."""
        client = activity.client()
        cancelled = 0
        async for execution in client.list_workflows(
            lead_workflows_query(data.tenant_id, data.lead_id)
        ):
            if execution.id == data.exclude_workflow_id:
                continue
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).cancel()
            cancelled += 1
        return CancelLeadWorkflowsOutput(cancelled)

    @activity.defn(name=ERASE_LEAD)
    async def erase_lead(self, data: EraseLeadInput) -> EraseLeadOutput:
        """One transaction for the OLTP side (suppression, messages, lists, lead, audit),
        then the analytics events; a repeat finds the lead erased and only re-scrubs."""
        tenant_id, lead_id = UUID(data.tenant_id), UUID(data.lead_id)
        async with self.db.tenant_session(tenant_id) as session:
            repo = ErasureRepository(session)
            found = await repo.lead_address(lead_id)
            if found is None:
                return EraseLeadOutput(found=False, erased_now=False)
            email, status = found
            erased_now = status != "erased"
            if erased_now:
                await repo.suppress_erased(tenant_id, email)
            scrubbed = await repo.scrub_messages(lead_id)
            await repo.remove_from_lists(lead_id)
            if erased_now:
                await repo.anonymise(lead_id)
                actor = UUID(data.actor_id) if data.actor_id else None
                await repo.audit(tenant_id, lead_id, data.actor_type, actor)
        async with self.db.analytics_session(tenant_id) as session:
            await AnalyticsErasureRepository(session).scrub(lead_id)
        return EraseLeadOutput(found=True, erased_now=erased_now, messages_scrubbed=scrubbed)
