"""The campaign engine's activities: a lead's sequence (its plan, its next sending slot, its
conditions, its progress and ending, stop-for-company) and a campaign's (the enrollment
window and claims, the status mirror, pause/resume/cancel and their fan-outs).

Each is idempotent: a retry after a lost answer changes nothing twice (claims return their
unstarted rows again, endings never overwrite an ending, fan-outs skip what is gone).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from uuid import UUID

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.interfaces.campaigns import (
    CAMPAIGN_WORKFLOW_KIND,
    CANCEL_LEAD_SEQUENCES,
    CLAIM_ENROLLMENTS,
    ENROLLMENT_WINDOW,
    EVALUATE_CONDITION,
    LOAD_LEAD_SEQUENCE,
    NEXT_SEND_SLOT,
    NOTIFY_LEADS_RESUMED,
    PAUSE_CAMPAIGN,
    RECORD_LEAD_ENDING,
    RECORD_LEAD_PROGRESS,
    RESUME_CAMPAIGN,
    SET_CAMPAIGN_STATUS,
    SIGNAL_CAMPAIGN_RESUMED,
    STOP_COMPANY_LEADS,
    CampaignRef,
    CampaignStatusOutput,
    ClaimInput,
    ClaimOutput,
    ConditionInput,
    ConditionOutput,
    FanOutInput,
    FanOutOutput,
    LeadEndingInput,
    LeadEndingOutput,
    LeadProgressInput,
    LeadProgressOutput,
    LeadSignal,
    LoadSequenceInput,
    LoadSequenceOutput,
    NextSlotInput,
    NextSlotOutput,
    PauseInput,
    PauseOutput,
    ResumeInput,
    ResumeOutput,
    SequenceStep,
    SetStatusInput,
    StopCompanyInput,
    StopCompanyOutput,
    WindowOutput,
)
from activities.webhooks import activity_event_id, enqueue_event, wake_endpoints
from penguinmails.breakers import BREAKER, CampaignBreaker
from penguinmails.db import Database
from penguinmails.leads.emails import is_free_mail
from penguinmails.models.base import utcnow
from penguinmails.models.campaigns import (
    CAMPAIGN_STATUSES,
    CONDITION_TYPES,
    ENROLLMENT_STATUSES,
    OPEN_ENROLLMENT_STATUSES,
    PAUSE_REASONS,
)
from penguinmails.repositories.campaigns import (
    CampaignRepository,
    CampaignSettings,
    ConditionRepository,
)
from penguinmails.repositories.enrollments import EnrollmentRepository
from penguinmails.repositories.notifications import NotificationRepository
from penguinmails.repositories.outbox import OutboxRepository
from penguinmails.repositories.transactional_emails import TransactionalEmailRepository
from penguinmails.scheduling import InvalidWindow, next_slot, window_from_config, zone_or

# Errors no retry can fix: the workflow ends the lead (or answers the update) instead.
INVALID_INPUT = "InvalidCampaignInput"
LOCK_NOT_AVAILABLE = "55P03"
FAN_OUT_CONCURRENCY = 50


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_INPUT, non_retryable=True)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _short(value: dt.datetime) -> str:
    """2026-12-01T14:00Z: what a person reads in the history."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def _heartbeat(*details: object) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


async def _ignore_missing(call: Awaitable[object]) -> bool:
    """True when the call reached a running workflow; False when it had ended or never
    started (a fan-out skips what is gone)."""
    try:
        await call
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return False
        raise
    return True


async def _each(ids: list[str], action: Callable[[str], Awaitable[bool]]) -> int:
    done = 0
    for start in range(0, len(ids), FAN_OUT_CONCURRENCY):
        results = await asyncio.gather(
            *(action(i) for i in ids[start : start + FAN_OUT_CONCURRENCY])
        )
        done += sum(results)
    return done


def campaign_workflow_of(tenant_id: UUID | str, campaign_id: UUID | str) -> str:
    return f"{CAMPAIGN_WORKFLOW_KIND}:{tenant_id}:{campaign_id}"


async def request_breaker_pause(
    client: Client, tenant_id: UUID | str, trip: CampaignBreaker, *, wait: bool = True
) -> None:
    """The campaign's circuit-breaker pause through its workflow's own `pause` update (by
    name: activities never import workflow code), with the notice the pause activity writes
    when the reason is new. `wait`: until the pause has drained the sends in flight; else
    until the workflow accepted it (a send activity does not hold its slot that long).
    Idempotent: a campaign already paused by the breaker changes nothing; one whose
    workflow has ended or refuses (ended meanwhile) is left alone."""
    handle = client.get_workflow_handle(campaign_workflow_of(tenant_id, trip.campaign_id))
    request = {
        "tenant_id": str(tenant_id),
        "reason": BREAKER,
        "notice_title": trip.title,
        "notice": trip.message,
    }
    stage = WorkflowUpdateStage.COMPLETED if wait else WorkflowUpdateStage.ACCEPTED
    try:
        await handle.start_update("pause", request, wait_for_stage=stage)
    except WorkflowUpdateFailedError:
        return
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise


# Outbound webhook event types this module publishes (penguinmails.webhooks.EVENT_TYPES).
STATUS_CHANGED = "campaign.status_changed"
LEAD_FINISHED = "lead.finished"


async def _status_changed(
    session: AsyncSession,
    campaign_id: UUID,
    before: CampaignSettings,
    status: str,
    reasons: list[str],
    reason: str | None = None,
) -> list[UUID]:
    """`campaign.status_changed` in the transaction of the change, when its status or its
    pause reasons moved (a breaker's pause of a campaign its user had paused adds a reason
    without a new status); `reason` the pause reason added or lifted. The endpoints that
    got it."""
    if before.status == status and sorted(before.pause_reasons) == sorted(reasons):
        return []
    return await enqueue_event(
        session,
        activity_event_id(STATUS_CHANGED),
        STATUS_CHANGED,
        utcnow(),
        {
            "campaign_id": str(campaign_id),
            "status": status,
            "previous_status": before.status,
            "pause_reasons": list(reasons),
            "reason": reason,
        },
    )


async def lead_finished(
    session: AsyncSession,
    event_id: str,
    campaign_id: UUID | str,
    lead_id: UUID | str,
    status: str,
    reason: str | None,
) -> list[UUID]:
    """`lead.finished` in the transaction that ended the enrollment: `status` the
    enrollment's end (completed, replied, bounced, stopped, removed, ...), `reason` why.
    The endpoints that got it."""
    return await enqueue_event(
        session,
        event_id,
        LEAD_FINISHED,
        utcnow(),
        {
            "campaign_id": str(campaign_id),
            "lead_id": str(lead_id),
            "status": status,
            "reason": reason or None,
        },
    )


async def _finished_notice(session: AsyncSession, tenant_id: UUID, campaign_id: UUID) -> None:
    """The tenant told that the campaign finished, in the transaction that completes it."""
    name = await CampaignRepository(session).name(campaign_id) or str(campaign_id)
    counts = await EnrollmentRepository(session).ended_counts(campaign_id)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no leads"
    await NotificationRepository(session).add(
        tenant_id,
        kind="campaign_completed",
        title=f"Campaign {name} finished",
        message=f"Every lead of {name} has reached the end of its sequence: {summary}.",
        severity="info",
    )


class CampaignActivities:
    def __init__(self, db: Database, client: Client | None = None) -> None:
        self.db = db
        self._client = client  # tests without a worker context; else the activity's client

    def client(self) -> Client:
        return self._client or activity.client()

    # -- a lead's sequence ---------------------------------------------------------------------

    @activity.defn(name=LOAD_LEAD_SEQUENCE)
    async def load_lead_sequence(self, data: LoadSequenceInput) -> LoadSequenceOutput:
        campaign_id, lead_id = UUID(data.campaign_id), UUID(data.lead_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            campaign = await CampaignRepository(session).settings(campaign_id)
            enrollments = EnrollmentRepository(session)
            enrollment = await enrollments.start(campaign_id, lead_id)
            if campaign is None or enrollment is None:
                return LoadSequenceOutput(False, "missing", note="no such enrollment")
            if enrollment.status not in OPEN_ENROLLMENT_STATUSES:
                return LoadSequenceOutput(
                    False, enrollment.status, note=f"enrollment already {enrollment.status}"
                )
            steps = await CampaignRepository(session).steps_after(
                campaign_id, enrollment.current_step
            )
            thread = await enrollments.thread_message_id(campaign_id, lead_id)
        plan = [
            SequenceStep(
                str(s.id),
                s.step_order,
                s.step_type,
                s.wait_duration_hours,
                _iso(s.wait_until_date),
                s.condition_type,
                s.condition_value,
            )
            for s in steps
        ]
        kinds = ", ".join(f"{s.step_order}:{s.step_type}" for s in plan) or "none"
        return LoadSequenceOutput(
            True,
            enrollment.status,
            enrollment.current_step,
            plan,
            campaign.stop_on_reply,
            campaign.stop_for_company,
            str(enrollment.email_account_id) if enrollment.email_account_id else None,
            thread,
            enrollment.variant_draw,
            note=f"from step {enrollment.current_step}: steps {kinds}",
        )

    @activity.defn(name=NEXT_SEND_SLOT)
    async def next_send_slot(self, data: NextSlotInput) -> NextSlotOutput:
        """The window's next instant at or after `not_before`, in the lead's zone (the
        campaign's when the lead has none or it is not an IANA name: said in the note)."""
        not_before = dt.datetime.fromisoformat(data.not_before)
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = CampaignRepository(session)
            campaign = await repo.settings(UUID(data.campaign_id))
            lead = await repo.lead_zone_and_domain(UUID(data.lead_id))
        if campaign is None or lead is None:
            raise _invalid("no such campaign or lead")
        lead_zone = lead[0]
        try:
            window = window_from_config(campaign.configuration)
            zone, fell_back = zone_or(lead_zone, campaign.timezone or "UTC")
            slot = next_slot(window, not_before, zone)
        except (InvalidWindow, ValueError) as exc:
            raise _invalid(str(exc)) from None
        note = f"{_short(slot.at)} ({slot.zone})"
        if fell_back:
            note += f", the lead's zone {lead_zone!r} is not IANA: the campaign's"
        elif not lead_zone:
            note += ", the lead has no zone: the campaign's"
        return NextSlotOutput(
            _iso(slot.at) or "",
            slot.zone,
            fell_back or not lead_zone,
            _iso(slot.window_end) or "",
            note,
        )

    @activity.defn(name=EVALUATE_CONDITION)
    async def evaluate_condition(self, data: ConditionInput) -> ConditionOutput:
        """Read at the step's time from the analytics database (bot opens and clicks left
        out). `no_reply` also holds while a reply is still on its way through the event
        stream; the reply signal ends the sequence anyway."""
        kind = data.condition_type
        if kind not in CONDITION_TYPES:
            raise _invalid(f"unknown condition {kind!r}")
        if kind == "always":
            return ConditionOutput(True, "always")
        campaign_id, lead_id = UUID(data.campaign_id), UUID(data.lead_id)
        async with self.db.analytics_session(data.tenant_id) as session:
            repo = ConditionRepository(session)
            if kind == "no_reply":
                seen, what = await repo.replied(campaign_id, lead_id), "a reply"
            elif kind == "no_open":
                seen, what = await repo.opened(campaign_id, lead_id), "an open"
            else:
                seen, what = await repo.clicked(campaign_id, lead_id), "a click"
        return ConditionOutput(not seen, f"{kind}: {what} {'seen' if seen else 'not seen'}")

    @activity.defn(name=RECORD_LEAD_PROGRESS)
    async def record_lead_progress(self, data: LeadProgressInput) -> LeadProgressOutput:
        async with self.db.tenant_session(data.tenant_id) as session:
            recorded = await EnrollmentRepository(session).record_progress(
                UUID(data.campaign_id),
                UUID(data.lead_id),
                data.step_order,
                UUID(data.mailbox_id) if data.mailbox_id else None,
                data.skip_reason,
            )
        return LeadProgressOutput(recorded)

    @activity.defn(name=RECORD_LEAD_ENDING)
    async def record_lead_ending(self, data: LeadEndingInput) -> LeadEndingOutput:
        if data.status not in ENROLLMENT_STATUSES or data.status in OPEN_ENROLLMENT_STATUSES:
            raise _invalid(f"not an ending: {data.status!r}")
        event_id = activity_event_id(LEAD_FINISHED)
        enqueued: list[UUID] = []
        async with self.db.tenant_session(data.tenant_id) as session:
            found = await EnrollmentRepository(session).end(
                UUID(data.campaign_id), UUID(data.lead_id), data.status, data.reason
            )
            if found is not None and found[1]:
                # With the ending it reports: the webhook exists exactly when the ending does.
                enqueued = await lead_finished(
                    session, event_id, data.campaign_id, data.lead_id, found[0], data.reason
                )
        await wake_endpoints(self.db, self.client, UUID(data.tenant_id), [event_id], enqueued)
        if found is None:
            return LeadEndingOutput("missing", False)
        return LeadEndingOutput(found[0], found[1])

    @activity.defn(name=STOP_COMPANY_LEADS)
    async def stop_company_leads(self, data: StopCompanyInput) -> StopCompanyOutput:
        """A reply stops the campaign's other leads at the same company domain (never a
        free-mail domain): their enrollments first (committed), then their workflows."""
        campaign_id, lead_id = UUID(data.campaign_id), UUID(data.lead_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            found = await CampaignRepository(session).lead_zone_and_domain(lead_id)
            domain = found[1] if found else None
            if not domain or is_free_mail(domain):
                return StopCompanyOutput(None, 0, f"{domain or 'no domain'}: free mail, none")
            stopped = await EnrollmentRepository(session).stop_company(campaign_id, lead_id, domain)
            base = activity_event_id(LEAD_FINISHED)
            finished = [f"{base}:{lead}" for lead in stopped]
            enqueued: list[UUID] = []
            for event, lead in zip(finished, stopped, strict=True):
                enqueued += await lead_finished(
                    session, event, campaign_id, lead, "stopped", "company_replied"
                )
        await wake_endpoints(self.db, self.client, UUID(data.tenant_id), finished, enqueued)
        client = self.client()

        async def cancel(lead: str) -> bool:
            handle = client.get_workflow_handle(data.lead_workflow_prefix + lead)
            return await _ignore_missing(handle.cancel())

        await _each([str(i) for i in stopped], cancel)
        return StopCompanyOutput(domain, len(stopped), f"{domain}: {len(stopped)} stopped")

    # -- a campaign ----------------------------------------------------------------------------

    @activity.defn(name=ENROLLMENT_WINDOW)
    async def enrollment_window(self, data: CampaignRef) -> WindowOutput:
        campaign_id = UUID(data.campaign_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            capacity = await CampaignRepository(session).window_capacity(campaign_id)
            counts = await EnrollmentRepository(session).counts(campaign_id)
        return WindowOutput(capacity, counts.pending, counts.active, counts.paused)

    @activity.defn(name=CLAIM_ENROLLMENTS)
    async def claim_enrollments(self, data: ClaimInput) -> ClaimOutput:
        after = UUID(data.after) if data.after else None
        async with self.db.tenant_session(data.tenant_id) as session:
            rows = await EnrollmentRepository(session).claim(
                UUID(data.campaign_id), after, data.limit
            )
        cursor = str(rows[-1][0]) if rows else data.after
        return ClaimOutput([str(lead) for _, lead in rows], cursor, len(rows) >= data.limit)

    @activity.defn(name=SET_CAMPAIGN_STATUS)
    async def set_campaign_status(self, data: SetStatusInput) -> CampaignStatusOutput:
        if data.status not in CAMPAIGN_STATUSES:
            raise _invalid(f"unknown campaign status {data.status!r}")
        applied = True
        campaign_id = UUID(data.campaign_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = CampaignRepository(session)
            before = await repo.settings(campaign_id)
            if data.when_done and data.status == "completed":
                found = await repo.complete_when_done(campaign_id)
                row, applied = found if found is not None else (None, False)
            else:
                row = await repo.set_status(campaign_id, data.status)
            enqueued: list[UUID] = []
            if row is not None and before is not None:
                reasons = before.pause_reasons
                enqueued = await _status_changed(session, campaign_id, before, row.status, reasons)
                if row.status == "completed" and before.status != "completed":
                    await _finished_notice(session, UUID(data.tenant_id), campaign_id)
                    # The owner is also e-mailed, once (the platform's mail: no sending slot).
                    await TransactionalEmailRepository(session).queue_campaign_finished(
                        UUID(data.tenant_id), campaign_id
                    )
        if row is None:
            raise _invalid("no such campaign")
        await self._wake_status_endpoints(data.tenant_id, enqueued)
        return CampaignStatusOutput(
            row.status, _iso(row.started_at), _iso(row.completed_at), applied
        )

    async def _wake_status_endpoints(self, tenant_id: str, enqueued: list[UUID]) -> None:
        """After the commit, on every attempt: the endpoints of this activity's
        `campaign.status_changed` event, if it made one (a retry finds them still pending)."""
        await wake_endpoints(
            self.db, self.client, UUID(tenant_id), [activity_event_id(STATUS_CHANGED)], enqueued
        )

    @activity.defn(name=PAUSE_CAMPAIGN)
    async def pause_campaign(self, data: PauseInput) -> PauseOutput:
        """The campaign's exclusive lock (it waits for the sends in flight, at most the lock
        timeout), the reason recorded, committed: no send is in flight and none starts.
        On a lock timeout the reason is recorded without the lock (no new send passes its
        re-check) and the answer lists the sends that still hold it."""
        if data.reason not in PAUSE_REASONS:
            raise _invalid(f"unknown pause reason {data.reason!r}")
        campaign_id = UUID(data.campaign_id)
        try:
            async with self.db.tenant_session(data.tenant_id) as session:
                before = await CampaignRepository(session).settings(campaign_id)
                status = await OutboxRepository(session).pause_campaign(
                    campaign_id, data.reason, data.lock_timeout_ms
                )
                reasons = await CampaignRepository(session).pause_reasons(campaign_id)
                enqueued = await self._paused(session, data, before, status, reasons)
            await self._wake_status_endpoints(data.tenant_id, enqueued)
            return PauseOutput(status, reasons, True, note="paused, no send in flight")
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = CampaignRepository(session)
            before = await repo.settings(campaign_id)
            status = await repo.add_pause_reason(campaign_id, data.reason) or "missing"
            reasons = await repo.pause_reasons(campaign_id)
            in_flight = await repo.sends_in_flight(campaign_id)
            enqueued = await self._paused(session, data, before, status, reasons)
        await self._wake_status_endpoints(data.tenant_id, enqueued)
        return PauseOutput(
            status,
            reasons,
            False,
            in_flight,
            f"paused; {len(in_flight)} send(s) still in flight after {data.lock_timeout_ms} ms",
        )

    @staticmethod
    async def _paused(
        session: AsyncSession,
        data: PauseInput,
        before: CampaignSettings | None,
        status: str,
        after: list[str],
    ) -> list[UUID]:
        """In the pause's transaction: its `campaign.status_changed` event, and its
        notification, each only when it changed something (a retried or repeated pause
        tells no one twice). The campaign workflow runs one status change at a time, so
        `before` is not raced by another pause. The endpoints the event went to."""
        if before is None:
            return []
        enqueued = await _status_changed(
            session, UUID(data.campaign_id), before, status, after, data.reason
        )
        if data.notice and data.reason not in before.pause_reasons and data.reason in after:
            await NotificationRepository(session).add(
                UUID(data.tenant_id),
                kind=f"campaign_{data.reason}",
                title=data.notice_title or "Campaign paused",
                message=data.notice,
                severity="error",
            )
        return enqueued

    @activity.defn(name=RESUME_CAMPAIGN)
    async def resume_campaign(self, data: ResumeInput) -> ResumeOutput:
        if data.reason not in PAUSE_REASONS:
            raise _invalid(f"unknown pause reason {data.reason!r}")
        campaign_id = UUID(data.campaign_id)
        async with self.db.tenant_session(data.tenant_id) as session:
            before = await CampaignRepository(session).settings(campaign_id)
            status, reasons = await OutboxRepository(session).lift_pause(campaign_id, data.reason)
            enqueued = (
                await _status_changed(session, campaign_id, before, status, reasons, data.reason)
                if before is not None
                else []
            )
        await self._wake_status_endpoints(data.tenant_id, enqueued)
        return ResumeOutput(status, reasons)

    @activity.defn(name=NOTIFY_LEADS_RESUMED)
    async def notify_leads_resumed(self, data: FanOutInput) -> FanOutOutput:
        """Signal every active lead of the campaign that it sends again (a lead waiting on
        the pause tries at once; the others ignore it). Pages the enrollment table; the
        cursor rides on the heartbeat so a retry resumes where the last attempt stopped."""
        client = self.client()
        signal = LeadSignal(data.tenant_id, "resumed")

        async def notify(lead: str) -> bool:
            handle = client.get_workflow_handle(data.lead_workflow_prefix + lead)
            return await _ignore_missing(handle.signal(SIGNAL_CAMPAIGN_RESUMED, signal))

        total = 0
        after = _resume_cursor()
        while True:
            async with self.db.tenant_session(data.tenant_id) as session:
                page = await EnrollmentRepository(session).open_page(
                    UUID(data.campaign_id), after, data.page_size, ("active",)
                )
            if not page:
                return FanOutOutput(total)
            total += await _each([str(lead) for _, lead in page], notify)
            after = page[-1][0]
            _heartbeat(str(after))

    @activity.defn(name=CANCEL_LEAD_SEQUENCES)
    async def cancel_lead_sequences(self, data: FanOutInput) -> FanOutOutput:
        """A cancelled campaign's fan-out: page the open enrollments, cancel each lead's
        workflow by id, then mark the page `stopped`. The campaign is `cancelled` in the
        database before this runs, so no send passes its re-check meanwhile."""
        client = self.client()

        async def cancel(lead: str) -> bool:
            handle = client.get_workflow_handle(data.lead_workflow_prefix + lead)
            return await _ignore_missing(handle.cancel())

        workflows = enrollments = 0
        after = _resume_cursor()
        campaign_id = UUID(data.campaign_id)
        while True:
            async with self.db.tenant_session(data.tenant_id) as session:
                page = await EnrollmentRepository(session).open_page(
                    campaign_id, after, data.page_size, OPEN_ENROLLMENT_STATUSES
                )
            if not page:
                return FanOutOutput(workflows, enrollments)
            workflows += await _each([str(lead) for _, lead in page], cancel)
            base = activity_event_id(LEAD_FINISHED)
            async with self.db.tenant_session(data.tenant_id) as session:
                stopped = await EnrollmentRepository(session).stop(
                    [i for i, _ in page], "campaign_cancelled"
                )
                # Each lead ended here: its event in the page's transaction, its id fixed
                # by this fan-out and the lead (a retry stops none of them again).
                finished = [f"{base}:{lead}" for lead in stopped]
                enqueued: list[UUID] = []
                for event, lead in zip(finished, stopped, strict=True):
                    enqueued += await lead_finished(
                        session, event, campaign_id, lead, "stopped", "campaign_cancelled"
                    )
            enrollments += len(stopped)
            await wake_endpoints(self.db, self.client, UUID(data.tenant_id), finished, enqueued)
            after = page[-1][0]
            _heartbeat(str(after))


def _resume_cursor() -> UUID | None:
    """The cursor a previous attempt of this fan-out heartbeated, if any."""
    if not activity.in_activity():
        return None
    details = activity.info().heartbeat_details
    return UUID(str(details[0])) if details else None
