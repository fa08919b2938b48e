"""GDPR erasure of a lead: the ErasureWorkflow cancels the person's running workflows,
anonymises the lead everywhere and keeps only a hashed suppression entry."""

from __future__ import annotations

import contextlib
from uuid import UUID

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from penguinmails.db import Database
from penguinmails.repositories.leads import LeadRepository
from workflows.erasure import ErasureInput, ErasureWorkflow
from workflows.names import ERASURE, TaskQueue, tenant_attributes, workflow_id


async def start_erasure(
    db: Database, client: Client, tenant_id: UUID, lead_id: UUID, requested_by: UUID
) -> str | None:
    """The workflow's id (started now or already running); None when the tenant has no
    such lead. Idempotent."""
    async with db.tenant_session(tenant_id) as session:
        lead = await LeadRepository(session).get(lead_id)
    if lead is None:
        return None
    wid = workflow_id(ERASURE, tenant_id, lead_id)
    # One erasure at a time per person (it is idempotent anyway).
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            ErasureWorkflow.run,
            ErasureInput(str(tenant_id), str(lead_id), "user", str(requested_by)),
            id=wid,
            task_queue=TaskQueue.IMPORTS,
            search_attributes=tenant_attributes(tenant_id, lead_id=str(lead_id)),
        )
    return wid
