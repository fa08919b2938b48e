"""What starts, updates and signals the campaign engine's workflows, shared by the API and the
CLI. Each use case commits its own tenant transaction before it talks to Temporal, so a
workflow never reads a row that is not there yet.

Lifecycle moves are the campaign workflow's updates: `start` (and `cancel`, which may come
before any start) go through update-with-start on the id `campaign:{tenant}:{campaign}`, the
others to the running workflow. The database says what the workflow cannot: whether the
campaign is ready to start, and, once its workflow has closed, its final status.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.campaigns import lead_finished
from activities.interfaces.campaigns import (
    SIGNAL_CAMPAIGN_RESUMED,
    SIGNAL_ENROLLED,
    SIGNAL_REPLY,
    SIGNAL_UNSUBSCRIBE,
    CampaignNudge,
    LeadSignal,
    PauseOutput,
)
from activities.interfaces.delivery import DeliverOutput
from activities.webhooks import wake_endpoints
from penguinmails.db import Database
from penguinmails.repositories.campaign_setup import CampaignSetupRepository
from penguinmails.repositories.enrollments import EnrollmentRepository
from penguinmails.repositories.suppressions import SuppressionRepository
from penguinmails.repositories.unsubscribes import UnsubscribeRepository
from workflows.campaign import (
    CampaignInput,
    CampaignView,
    CampaignWorkflow,
    CancelRequest,
    PauseRequest,
    ResumeRequest,
    StartRequest,
)
from workflows.names import (
    CAMPAIGN_ID,
    CAMPAIGN_STATUS,
    TENANT_ID,
    TEST_SEND,
    TaskQueue,
    campaign_workflow_id,
    lead_sequence_workflow_id,
    workflow_id,
)
from workflows.test_send import TestSendInput, TestSendWorkflow

ENDED = ("completed", "cancelled")
# Statuses in which the campaign's workflow runs (so it can hear an `enrolled` nudge).
RUNNING = ("scheduled", "sending", "paused")


class CampaignNotFound(Exception):
    pass


class CampaignConflict(Exception):
    """The move does not fit the campaign's state: `status` is its status now, `missing`
    what a start lacks."""

    def __init__(self, message: str, status: str, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.missing = missing or []


@dataclass(frozen=True)
class Enrolled:
    counts: dict[str, int]
    signalled: bool


async def _status(db: Database, tenant_id: UUID, campaign_id: UUID) -> str:
    async with db.tenant_session(tenant_id) as session:
        campaign = await CampaignSetupRepository(session).get(campaign_id)
    if campaign is None:
        raise CampaignNotFound
    return campaign.status


async def _signal_quietly(client: Client, workflow_id: str, signal: str, arg: Any) -> bool:
    """True when delivered; a workflow that is not running (never started, closed) is not
    an error: its rows already say what the signal would."""
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, arg)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return False
        raise
    return True


async def enroll(
    db: Database,
    client: Client,
    tenant_id: UUID,
    campaign_id: UUID,
    *,
    list_id: UUID | None,
    lead_ids: list[UUID] | None,
    allow_other_campaigns: bool,
) -> Enrolled:
    """Raises CampaignNotFound, LookupError for a list that is not the tenant's, and
    CampaignConflict for an ended campaign."""
    async with db.tenant_session(tenant_id) as session:
        repo = CampaignSetupRepository(session)
        campaign = await repo.get(campaign_id, for_update=True)
        if campaign is None:
            raise CampaignNotFound
        if campaign.status in ENDED:
            raise CampaignConflict(
                f"a {campaign.status} campaign takes no new leads", campaign.status
            )
        if list_id is not None and not await repo.list_exists(list_id):
            raise LookupError("lead list")
        counts = await repo.enroll(
            tenant_id,
            campaign_id,
            list_id=list_id,
            lead_ids=lead_ids,
            allow_other=allow_other_campaigns,
        )
        status = campaign.status
    signalled = False
    if counts.get("enrolled") and status in RUNNING:
        signalled = await _signal_quietly(
            client,
            campaign_workflow_id(tenant_id, campaign_id),
            SIGNAL_ENROLLED,
            CampaignNudge(str(tenant_id)),
        )
    return Enrolled(counts, signalled)


async def remove_enrollment(
    db: Database, client: Client, tenant_id: UUID, campaign_id: UUID, lead_id: UUID
) -> bool:
    """The enrollment ends `removed` (an ending is never overwritten) and the lead's
    sequence is cancelled. False when there is no such enrollment."""
    event_id = f"lead.finished:removed:{uuid4()}"
    async with db.tenant_session(tenant_id) as session:
        ended = await EnrollmentRepository(session).end(
            campaign_id, lead_id, "removed", "removed by the tenant"
        )
        enqueued = (
            await lead_finished(
                session, event_id, campaign_id, lead_id, ended[0], "removed by the tenant"
            )
            if ended is not None and ended[1]
            else []
        )
    if ended is None:
        return False
    await wake_endpoints(db, lambda: client, tenant_id, [event_id], enqueued)
    with contextlib.suppress(RPCError):  # not started or already closed
        await client.get_workflow_handle(
            lead_sequence_workflow_id(tenant_id, campaign_id, lead_id)
        ).cancel()
    return True


async def set_enrollment_paused(
    db: Database, client: Client, tenant_id: UUID, campaign_id: UUID, lead_id: UUID, paused: bool
) -> str:
    """Hold one lead, or let it go again. A lead whose sequence runs is held where it is: its
    next send is refused (at reserve, and at the send's re-check after the campaign lock), and
    the sequence waits; its resume signals the sequence, which goes on from that step. One
    not started yet is skipped by the campaign until resumed (the campaign hears of it at
    once). Raises CampaignNotFound without such an enrollment, and CampaignConflict (with the
    enrollment's status) for one that has ended."""
    async with db.tenant_session(tenant_id) as session:
        repo = CampaignSetupRepository(session)
        campaign = await repo.get(campaign_id)
        found = await repo.set_enrollment_paused(campaign_id, lead_id, paused)
    if campaign is None or found is None:
        raise CampaignNotFound
    status, moved = found
    already = ("paused",) if paused else ("pending", "active")
    if not moved and status not in already:
        raise CampaignConflict(
            f"a {status} enrollment cannot be {'paused' if paused else 'resumed'}", status
        )
    if moved and status == "active":  # its sequence waits for this
        await _signal_quietly(
            client,
            lead_sequence_workflow_id(tenant_id, campaign_id, lead_id),
            SIGNAL_CAMPAIGN_RESUMED,
            LeadSignal(str(tenant_id), "lead resumed"),
        )
    elif moved and status == "pending" and campaign.status in RUNNING:
        await _signal_quietly(
            client,
            campaign_workflow_id(tenant_id, campaign_id),
            SIGNAL_ENROLLED,
            CampaignNudge(str(tenant_id)),
        )
    return status


def _failure_message(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    return str(cause or exc)


async def _update(
    db: Database,
    client: Client,
    tenant_id: UUID,
    campaign_id: UUID,
    update: Any,
    request: Any,
    result_type: type,
    *,
    with_start: bool,
) -> Any:
    wid = campaign_workflow_id(tenant_id, campaign_id)
    try:
        if with_start:
            operation = WithStartWorkflowOperation(
                CampaignWorkflow.run,
                CampaignInput(str(tenant_id), str(campaign_id)),
                id=wid,
                task_queue=TaskQueue.CAMPAIGNS,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID, str(tenant_id)),
                        SearchAttributePair(CAMPAIGN_ID, str(campaign_id)),
                        SearchAttributePair(CAMPAIGN_STATUS, "draft"),
                    ]
                ),
            )
            return await client.execute_update_with_start_workflow(
                update, request, start_workflow_operation=operation, result_type=result_type
            )
        handle = client.get_workflow_handle(wid)
        return await handle.execute_update(update, request, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        # A validator refused (the workflow's state does not allow it).
        status = await _status(db, tenant_id, campaign_id)
        raise CampaignConflict(_failure_message(exc), status) from None
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        # No running workflow: never started, or closed. The database tells which.
        status = await _status(db, tenant_id, campaign_id)
        raise CampaignConflict(f"the campaign is {status}", status) from None


async def start_campaign(
    db: Database,
    client: Client,
    tenant_id: UUID,
    campaign_id: UUID,
    scheduled_at: datetime | None = None,
) -> CampaignView:
    async with db.tenant_session(tenant_id) as session:
        repo = CampaignSetupRepository(session)
        campaign = await repo.get(campaign_id)
        if campaign is None:
            raise CampaignNotFound
        if campaign.status != "draft":
            raise CampaignConflict(f"a {campaign.status} campaign cannot start", campaign.status)
        missing = await repo.start_blockers(campaign_id)
    if missing:
        raise CampaignConflict("the campaign cannot start: " + "; ".join(missing), "draft", missing)
    at = scheduled_at.astimezone(UTC).isoformat() if scheduled_at else None
    view: CampaignView = await _update(
        db,
        client,
        tenant_id,
        campaign_id,
        CampaignWorkflow.start,
        StartRequest(str(tenant_id), at),
        CampaignView,
        with_start=True,
    )
    return view


async def pause_campaign(
    db: Database, client: Client, tenant_id: UUID, campaign_id: UUID
) -> PauseOutput:
    await _status(db, tenant_id, campaign_id)  # 404 before anything else
    out: PauseOutput = await _update(
        db,
        client,
        tenant_id,
        campaign_id,
        CampaignWorkflow.pause,
        PauseRequest(str(tenant_id), "user"),
        PauseOutput,
        with_start=False,
    )
    return out


async def resume_campaign(
    db: Database, client: Client, tenant_id: UUID, campaign_id: UUID, reason: str = "user"
) -> CampaignView:
    """Lifts one reason the tenant may lift: its own pause (`user`) or the circuit
    breaker's (`breaker`, which is only ever lifted explicitly)."""
    await _status(db, tenant_id, campaign_id)
    view: CampaignView = await _update(
        db,
        client,
        tenant_id,
        campaign_id,
        CampaignWorkflow.resume,
        ResumeRequest(str(tenant_id), reason),
        CampaignView,
        with_start=False,
    )
    return view


async def cancel_campaign(
    db: Database, client: Client, tenant_id: UUID, campaign_id: UUID
) -> CampaignView:
    status = await _status(db, tenant_id, campaign_id)
    if status in ENDED:
        raise CampaignConflict(f"a {status} campaign cannot be cancelled", status)
    # A draft has no workflow yet: update-with-start gives it one that records the cancel.
    view: CampaignView = await _update(
        db,
        client,
        tenant_id,
        campaign_id,
        CampaignWorkflow.cancel,
        CancelRequest(str(tenant_id)),
        CampaignView,
        with_start=True,
    )
    return view


async def signal_lead(
    db: Database, client: Client, tenant_id: UUID, lead_id: UUID, signal: str, detail: str = ""
) -> int | None:
    """`signal` to every open sequence of the lead; how many were told. None when the
    tenant has no such lead."""
    async with db.tenant_session(tenant_id) as session:
        repo = CampaignSetupRepository(session)
        if await repo.lead_email(lead_id) is None:
            return None
        campaigns = await repo.open_campaigns_of_lead(lead_id)
    told = 0
    for campaign_id in campaigns:
        told += await _signal_quietly(
            client,
            lead_sequence_workflow_id(tenant_id, campaign_id, lead_id),
            signal,
            LeadSignal(str(tenant_id), detail),
        )
    return told


async def reply(db: Database, client: Client, tenant_id: UUID, lead_id: UUID) -> int | None:
    return await signal_lead(db, client, tenant_id, lead_id, SIGNAL_REPLY, "api")


async def unsubscribe(
    db: Database,
    client: Client,
    tenant_id: UUID,
    lead_id: UUID,
    request_id: str | None = None,
) -> tuple[int, bool] | None:
    """What `/u/` records (the address suppressed, the lead `unsubscribed`, the audit row),
    committed, then every open sequence of the lead told. (signalled, suppressed now)."""
    async with db.tenant_session(tenant_id) as session:
        repo = UnsubscribeRepository(session)
        email = await CampaignSetupRepository(session).lead_email(lead_id)
        if email is None:
            return None
        _, suppressed_now = await SuppressionRepository(session).suppress_address(
            tenant_id, email, "unsubscribed", {"via": "api"}
        )
        changed = await repo.mark_lead_unsubscribed(lead_id)
        if suppressed_now or changed:
            await repo.audit(tenant_id, "lead", str(lead_id), {"via": "api"}, request_id)
    told = await signal_lead(db, client, tenant_id, lead_id, SIGNAL_UNSUBSCRIBE, "api")
    return told or 0, suppressed_now


async def test_send(
    db: Database,
    client: Client,
    tenant_id: UUID,
    campaign_id: UUID,
    step_id: UUID,
    to: str,
    lead_id: UUID | None,
) -> DeliverOutput | None:
    """`deliver_step` for one test address, run by a short workflow on the sending queue
    and awaited. None when the campaign, its e-mail step or the lead is not the tenant's."""
    async with db.tenant_session(tenant_id) as session:
        repo = CampaignSetupRepository(session)
        if await repo.get(campaign_id) is None:
            return None
        steps = {s.id: s for s in await repo.steps(campaign_id)}
        step = steps.get(step_id)
        if step is None or step.step_type != "email":
            return None
        if lead_id is not None and await repo.lead_email(lead_id) is None:
            return None
    key = uuid4().hex
    try:
        result: DeliverOutput = await client.execute_workflow(
            TestSendWorkflow.run,
            TestSendInput(
                str(tenant_id),
                str(campaign_id),
                str(lead_id) if lead_id else None,
                str(step_id),
                to,
                key,
            ),
            id=workflow_id(TEST_SEND, tenant_id, f"{campaign_id}:{key}"),
            task_queue=TaskQueue.CAMPAIGNS,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_ID, str(tenant_id)),
                    SearchAttributePair(CAMPAIGN_ID, str(campaign_id)),
                ]
            ),
        )
    except WorkflowFailureError as exc:
        return DeliverOutput("failed", _failure_message(exc))
    return result
