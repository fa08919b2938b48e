"""Warmups: starting one for a mailbox or an IP (its row, then its workflow) and the
pause/resume/stop updates. Shared by `/v1/warmups` and `penguinmails warmup`."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from penguinmails.db import Database
from penguinmails.models.infra import Warmup
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.warmup import RampCurve
from workflows.ip_warmup import IpWarmupWorkflow
from workflows.mailbox_warmup import MailboxWarmupWorkflow
from workflows.names import (
    IP_WARMUP,
    MAILBOX_WARMUP,
    TaskQueue,
    tenant_attributes,
    workflow_id,
)
from workflows.warmup_ramp import WarmupCommand, WarmupInput, WarmupState


class WarmupNotFound(Exception):
    pass


class WarmupRefused(Exception):
    """The workflow's validator refused the command (e.g. resuming an active warmup)."""


def warmup_workflow_id(warmup: Warmup) -> str:
    if warmup.email_account_id:
        return workflow_id(MAILBOX_WARMUP, warmup.tenant_id, warmup.email_account_id)
    return workflow_id(IP_WARMUP, warmup.tenant_id, warmup.smtp_ip_address_id or "")


async def start_warmup(
    db: Database,
    client: Client,
    tenant_id: UUID,
    curve: RampCurve,
    *,
    email_account_id: UUID | None = None,
    smtp_ip_address_id: UUID | None = None,
    pool: bool = False,
    day_seconds: int | None = None,
) -> tuple[Warmup, str]:
    """Raises WarmupTargetNotFound or WarmupExists (nothing written then). `day_seconds`
    (development: `WARMUP_DAY_SECONDS`) makes a ramp day that many seconds long."""
    attributes: dict[str, str] = {}
    async with db.tenant_session(tenant_id) as session:
        warmup = await WarmupRepository(session).create(
            tenant_id,
            curve,
            dt.datetime.now(dt.UTC).date(),
            email_account_id=email_account_id,
            smtp_ip_address_id=smtp_ip_address_id,
            pool=pool,
        )
        if smtp_ip_address_id:
            ip = await IpAddressRepository(session).get(smtp_ip_address_id)
            assert ip is not None
            attributes = {"ip_address": str(ip.ip_address), "vps_id": str(ip.vps_instance_id)}
        else:
            attributes = {"mailbox_id": str(email_account_id)}
    wf_id = warmup_workflow_id(warmup)
    workflow = IpWarmupWorkflow.run if smtp_ip_address_id else MailboxWarmupWorkflow.run
    await client.start_workflow(
        workflow,
        WarmupInput(str(tenant_id), str(warmup.id), day_seconds=day_seconds),
        id=wf_id,
        task_queue=TaskQueue.INFRA,
        search_attributes=tenant_attributes(tenant_id, **attributes),
    )
    return warmup, wf_id


async def command_warmup(
    db: Database, client: Client, tenant_id: UUID, warmup_id: UUID, command: str
) -> WarmupState:
    """`pause`, `resume` or `stop` through the warmup's workflow (an update: the answer is
    the state after it)."""
    async with db.tenant_session(tenant_id) as session:
        warmup = await WarmupRepository(session).get(warmup_id)
    if warmup is None:
        raise WarmupNotFound(str(warmup_id))
    if warmup.status in ("completed", "stopped"):
        raise WarmupRefused(f"the warmup is {warmup.status}")
    handle = client.get_workflow_handle(warmup_workflow_id(warmup))
    try:
        state: WarmupState = await handle.execute_update(
            command, WarmupCommand(), result_type=WarmupState
        )
    except WorkflowUpdateFailedError as exc:
        raise WarmupRefused(str(exc.cause)) from None
    except RPCError as exc:  # the workflow has ended meanwhile
        raise WarmupRefused(exc.message) from None
    return state


__all__ = [
    "WarmupNotFound",
    "WarmupRefused",
    "command_warmup",
    "start_warmup",
    "warmup_workflow_id",
]
