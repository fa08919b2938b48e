"""Pausing a tenant's campaigns for one actor's reason, and lifting only that reason: through
each campaign workflow's own `pause`/`resume` updates (called by name, so activities and use
cases share it without importing workflow code). Billing's dunning (`billing`) and staff
suspension (`suspension`) both go through here."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode


async def apply_pause_reason(
    client: Client,
    campaign_workflow_prefix: str,
    tenant_id: UUID | str,
    campaigns: Iterable[UUID],
    reason: str,
    paused: bool,
) -> int:
    """Add `reason` to each campaign (`paused`) or lift it; how many campaigns took it. A
    campaign whose state refuses (ended meanwhile) or whose workflow is gone is skipped."""
    done = 0
    for campaign in campaigns:
        handle = client.get_workflow_handle(f"{campaign_workflow_prefix}{campaign}")
        request = {"tenant_id": str(tenant_id), "reason": reason}
        try:
            await handle.execute_update("pause" if paused else "resume", request)
            done += 1
        except WorkflowUpdateFailedError:
            continue
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
    return done


__all__ = ["apply_pause_reason"]
