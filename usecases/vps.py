"""VPS instances: ordering one (its row, then its lifecycle workflow) and scheduling its
decommission. Shared by `POST /v1/vps-instances`, `POST /v1/vps-instances/{id}/decommission`
and `penguinmails vps`.

Both commit before they start or signal the workflow: its activities read the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from temporalio.client import Client

from penguinmails.db import Database
from penguinmails.models.infra import VpsInstance
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.vps import VpsRepository
from workflows.names import VPS_LIFECYCLE, TaskQueue, tenant_attributes, workflow_id
from workflows.vps_lifecycle import VpsLifecycleInput, VpsLifecycleWorkflow


class VpsNotFound(Exception):
    pass


class VpsConflict(Exception):
    """The server cannot be decommissioned now (its status, or domains with nowhere to go)."""

    def __init__(self, message: str, domains: list[str] | None = None) -> None:
        super().__init__(message)
        self.domains = domains or []


@dataclass(frozen=True)
class Decommission:
    vps: VpsInstance
    workflow_id: str
    already_scheduled: bool


def lifecycle_workflow_id(tenant_id: UUID | str, vps_id: UUID | str) -> str:
    return workflow_id(VPS_LIFECYCLE, tenant_id, vps_id)


async def create_vps(
    db: Database, client: Client, tenant_id: UUID, provider: str, region: str
) -> tuple[VpsInstance, str]:
    async with db.tenant_session(tenant_id) as session:
        vps = await VpsRepository(session).create(tenant_id, provider, region)
    wf_id = lifecycle_workflow_id(tenant_id, vps.id)
    await client.start_workflow(
        VpsLifecycleWorkflow.run,
        VpsLifecycleInput(tenant_id=str(tenant_id), vps_id=str(vps.id)),
        id=wf_id,
        task_queue=TaskQueue.INFRA,
        search_attributes=tenant_attributes(tenant_id, vps_id=str(vps.id)),
    )
    return vps, wf_id


async def schedule_decommission(
    db: Database, client: Client, tenant_id: UUID, vps_id: UUID
) -> Decommission:
    """The server goes at the end of its paid period; asking twice answers the same date.
    Its domains move to the tenant's other IPs first; with none to take them, VpsConflict
    names them and nothing changes."""
    async with db.tenant_session(tenant_id) as session:
        repo = VpsRepository(session)
        vps = await repo.get(vps_id, for_update=True)
        if vps is None:
            raise VpsNotFound(str(vps_id))
        already = vps.status == "scheduled_decommission"
        if vps.status in ("decommissioned", "failed"):
            raise VpsConflict(f"the VPS is already {vps.status}")
        if not already:
            addresses = IpAddressRepository(session)
            domains = await addresses.domains_on_vps(vps_id)
            if domains and not await addresses.spare_ip_exists(vps_id):
                raise VpsConflict(
                    "the VPS's IPs still send for domains and no other IP can take them: "
                    + ", ".join(domains),
                    domains,
                )
            vps = await repo.save(
                vps,
                status="scheduled_decommission",
                decommission_scheduled_for=vps.current_billing_period_end,
            )
    wf_id = lifecycle_workflow_id(tenant_id, vps_id)
    await client.get_workflow_handle(wf_id).signal(VpsLifecycleWorkflow.schedule_decommission)
    return Decommission(vps, wf_id, already)


__all__ = [
    "Decommission",
    "VpsConflict",
    "VpsNotFound",
    "create_vps",
    "lifecycle_workflow_id",
    "schedule_decommission",
]
