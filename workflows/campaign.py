"""A campaign: one workflow per campaign, id `campaign:{tenant}:{campaign}`, on the
`campaigns` queue, for the campaign's whole life (continue-as-new keeps each run short).

Status: draft -> scheduled (a timer until `scheduled_at`) -> sending <-> paused ->
completed, or cancelled from any of them; mirrored in the database by activities
(`started_at`, `completed_at`) and in the `CampaignStatus` search attribute.

Updates, each with a validator that reads only the workflow's state (the API checks what
the workflow cannot know before it sends the update): `start`, `pause` (with a reason:
returns once no send of the campaign is in flight, or says which still are), `resume`
(lifts the caller's reason only; sending again when none is left), `cancel`. Queries:
`get_status`, `get_progress`.

Enrollment runs at the pace of capacity. The window (how many lead sequences run at once)
is today's sending capacity of the campaign's mailboxes (an activity computes it), so the
sequences running can never ask for more sends in a day than the mailboxes can make. Each
refill claims a keyset page of `campaign_leads` (pending -> active) after the cursor kept
in the state, and starts a `LeadSequenceWorkflow` child for each lead of the page (lead ids
live only in that page, never in the state). Children use `ParentClosePolicy.ABANDON` (they
outlive each continue-as-new) and `ALLOW_DUPLICATE` id reuse: a running one answers
already-started, which counts as success; a closed one only starts again when its
enrollment was put back to pending. A lead's end reaches the campaign through its
enrollment row, and a `lead_finished` signal to the campaign's workflow id nudges a refill;
an `enrolled` signal does the same for new pending rows (the cursor wraps to the start when
a page comes back short, so rows inserted behind it are found).

Continue-as-new after `children_per_run` starts (at most 1,000, under Temporal's 2,000
pending children per execution), or earlier when Temporal suggests it, once every handler
has finished. Completed when no enrollment is open. Cancel marks the campaign cancelled in
the database (no send passes its re-check), then an activity pages the open enrollments,
cancels each lead's workflow by id and marks the enrollments stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.campaigns import (
        CANCEL_LEAD_SEQUENCES,
        CLAIM_ENROLLMENTS,
        ENROLLMENT_WINDOW,
        NOTIFY_LEADS_RESUMED,
        PAUSE_CAMPAIGN,
        PAUSE_REASONS,
        RESUME_CAMPAIGN,
        SET_CAMPAIGN_STATUS,
        SIGNAL_ENROLLED,
        SIGNAL_LEAD_FINISHED,
        CampaignNudge,
        CampaignRef,
        CampaignStatusOutput,
        ClaimInput,
        ClaimOutput,
        FanOutInput,
        FanOutOutput,
        PauseInput,
        PauseOutput,
        ResumeInput,
        ResumeOutput,
        SetStatusInput,
        WindowOutput,
    )
    from workflows.lead_sequence import LeadSequenceInput, LeadSequenceWorkflow
    from workflows.names import (
        CAMPAIGN_STATUS,
        TaskQueue,
        lead_sequence_prefix,
        lead_sequence_workflow_id,
        tenant_attributes,
    )

T = TypeVar("T")

RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30), non_retryable_error_types=["InvalidCampaignInput"]
)
DB_TIMEOUT = timedelta(seconds=60)
# A fan-out pages the whole enrollment table: long, heartbeating its cursor.
FAN_OUT_TIMEOUT = timedelta(hours=2)
FAN_OUT_HEARTBEAT = timedelta(minutes=1)
MAX_CHILDREN_PER_RUN = 1000
ENDED = ("completed", "cancelled")
LATE_ENDINGS_PATCH = "keep-endings-told-during-count"
# Completion re-counts the open enrollments under the campaign's row lock (which enrolling
# takes too): an enrollment committed after the window's count but before the completion
# was left pending for ever. Histories from before complete as they ran.
COMPLETE_WHEN_DONE_PATCH = "complete-when-no-enrollment-is-open"


@dataclass
class CampaignState:
    """Everything a run hands to the next (continue-as-new): no lead ids."""

    status: str = "draft"
    pause_reasons: list[str] = field(default_factory=list)
    scheduled_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    cursor: str | None = None  # the last enrollment id claimed, None: from the start
    started_total: int = 0  # lead sequences started, over every run
    resume_to_notify: bool = False  # a resume whose fan-out has not run yet
    runs: int = 1


@dataclass(frozen=True)
class CampaignInput:
    tenant_id: str
    campaign_id: str
    state: CampaignState | None = None
    # Continue-as-new after this many children started in one run (at most 1,000).
    children_per_run: int = MAX_CHILDREN_PER_RUN
    window: int | None = None  # a fixed window instead of today's capacity (tests, staff)
    page_size: int = 100  # claimed and started per refill (one workflow task)
    refill_seconds: int = 900  # a refill without a nudge, at least this often
    pause_lock_timeout_ms: int = 60_000  # about the SMTP timeout
    sending_queue: str = TaskQueue.SENDING.value  # the lead sequences' deliver_step


@dataclass(frozen=True)
class StartRequest:
    tenant_id: str
    scheduled_at: str | None = None  # UTC ISO-8601; None or past: now


@dataclass(frozen=True)
class PauseRequest:
    tenant_id: str
    reason: str = "user"
    notice_title: str = ""  # a notification written with the pause when the reason is new
    notice: str = ""


@dataclass(frozen=True)
class ResumeRequest:
    tenant_id: str
    reason: str = "user"


@dataclass(frozen=True)
class CancelRequest:
    tenant_id: str


@dataclass(frozen=True)
class CampaignView:
    status: str
    pause_reasons: list[str]
    scheduled_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


@dataclass(frozen=True)
class CampaignProgress:
    status: str
    started_total: int
    window: int
    capacity_today: int
    pending: int
    active: int
    open: int
    runs: int


@workflow.defn(name="CampaignWorkflow")
class CampaignWorkflow:
    @workflow.init
    def __init__(self, data: CampaignInput) -> None:
        # The input here, not in run: an update can be validated before run starts.
        self._data: CampaignInput | None = data
        self._state = CampaignState()
        if data.state is not None:
            self._state = replace(data.state, runs=data.state.runs + 1)
        self._lock = asyncio.Lock()  # one status change at a time
        self._nudged = False
        self._finished = 0  # lead_finished signals since the last refill
        self._running = 0  # lead sequences running at the last refill
        self._last = WindowOutput(0, 0, 0)
        self._window = 0

    # -- the run -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: CampaignInput) -> CampaignView:
        self._publish_status()
        started_this_run = 0
        per_run = max(1, min(data.children_per_run, MAX_CHILDREN_PER_RUN))
        while True:
            status = self._state.status
            if status in ENDED:
                if status == "cancelled":
                    await self._fan_out_cancel()
                return self._view()
            if self._state.resume_to_notify:
                await self._notify_resumed()
                continue
            if status == "draft":
                await workflow.wait_condition(lambda: self._state.status != "draft")
                continue
            if status == "scheduled":
                await self._wait_for_schedule()
                continue
            if status == "paused":
                await workflow.wait_condition(
                    lambda: self._state.status != "paused" or self._state.resume_to_notify
                )
                continue
            started = await self._refill(data, per_run - started_this_run)
            if started is None:  # nothing open: every lead has ended
                async with self._lock:  # not while a pause or a cancel is answering
                    if self._state.status == "sending":
                        # Not completed when a lead was enrolled meanwhile: the loop
                        # refills and starts it.
                        await self._set_db_status(
                            "completed", when_done=workflow.patched(COMPLETE_WHEN_DONE_PATCH)
                        )
                continue
            started_this_run += started
            if started_this_run >= per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._state.status not in ENDED:
                    workflow.continue_as_new(replace(data, state=self._state))
                continue
            if started and started >= data.page_size:
                continue  # a full page: the window may have more room
            await self._wait_for_room()

    async def _refill(self, data: CampaignInput, budget: int) -> int | None:
        """One look at the window: claim and start what fits. None when nothing is open."""
        ref = CampaignRef(data.tenant_id, data.campaign_id)
        # Only the endings told before the count are in it: one told while the activity
        # ran may be of a lead the count still saw active, and must wake the next wait.
        told = self._finished
        window: WindowOutput = await self._activity(
            ENROLLMENT_WINDOW, ref, WindowOutput, "capacity and enrollments"
        )
        self._last, self._running = window, window.active
        # Histories recorded before this reset everything (a lost wake-up: the campaign
        # then waited for its refill interval); they replay as they ran.
        self._finished = self._finished - told if workflow.patched(LATE_ENDINGS_PATCH) else 0
        self._window = data.window or max(1, window.capacity_today)
        if window.open == 0:
            return None
        room = min(self._window - window.active, data.page_size, budget)
        if room <= 0 or window.pending == 0 or self._state.status != "sending":
            return 0
        claim: ClaimOutput = await self._activity(
            CLAIM_ENROLLMENTS,
            ClaimInput(data.tenant_id, data.campaign_id, self._state.cursor, room),
            ClaimOutput,
            f"claim up to {room} enrollments",
        )
        # A short page: the next claim starts over from the first id, where rows enrolled
        # after the cursor passed them wait.
        self._state.cursor = claim.cursor if claim.more else None
        await asyncio.gather(*(self._start_sequence(data, lead) for lead in claim.lead_ids))
        self._state.started_total += len(claim.lead_ids)
        self._running += len(claim.lead_ids)
        return len(claim.lead_ids)

    async def _start_sequence(self, data: CampaignInput, lead_id: str) -> None:
        # A child started by an earlier run (before a continue-as-new) answers
        # already-started: it runs, which is what was asked.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                LeadSequenceWorkflow.run,
                LeadSequenceInput(
                    data.tenant_id,
                    data.campaign_id,
                    lead_id,
                    campaign_workflow_id=workflow.info().workflow_id,
                    sending_queue=data.sending_queue,
                ),
                id=lead_sequence_workflow_id(data.tenant_id, data.campaign_id, lead_id),
                task_queue=workflow.info().task_queue,  # the campaigns queue
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=tenant_attributes(
                    data.tenant_id, campaign_id=data.campaign_id, lead_id=lead_id
                ),
            )

    async def _wait_for_room(self) -> None:
        """Until enough leads have ended to be worth a look (a tenth of the window, or every
        lead running when fewer run), new enrollments, a status change, or the refill
        interval."""
        assert self._data is not None
        status = self._state.status
        threshold = max(1, min(self._window // 10, self._running))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._nudged
                    or self._finished >= threshold
                    or self._state.status != status
                    or self._state.resume_to_notify
                ),
                timeout=timedelta(seconds=self._data.refill_seconds),
                timeout_summary="wait for room in the window",
            )
        self._nudged = False

    async def _wait_for_schedule(self) -> None:
        at = self._state.scheduled_at
        delay = datetime.fromisoformat(at) - workflow.now() if at else timedelta(0)
        if delay > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._state.status != "scheduled",
                    timeout=delay,
                    timeout_summary=f"scheduled for {at}",
                )
        async with self._lock:
            if self._state.status == "scheduled":
                await self._set_db_status("sending")

    async def _notify_resumed(self) -> None:
        assert self._data is not None
        out: FanOutOutput = await workflow.execute_activity(
            NOTIFY_LEADS_RESUMED,
            self._fan_out_input(),
            result_type=FanOutOutput,
            start_to_close_timeout=FAN_OUT_TIMEOUT,
            heartbeat_timeout=FAN_OUT_HEARTBEAT,
            retry_policy=RETRY,
            summary="tell the active leads the campaign sends again",
        )
        workflow.logger.info("notify_leads_resumed -> %d signalled", out.workflows)
        self._state.resume_to_notify = False

    async def _fan_out_cancel(self) -> None:
        out: FanOutOutput = await workflow.execute_activity(
            CANCEL_LEAD_SEQUENCES,
            self._fan_out_input(),
            result_type=FanOutOutput,
            start_to_close_timeout=FAN_OUT_TIMEOUT,
            heartbeat_timeout=FAN_OUT_HEARTBEAT,
            retry_policy=RETRY,
            summary="cancel every lead sequence, enrollments stopped",
        )
        workflow.logger.info(
            "cancel_lead_sequences -> %d cancelled, %d stopped", out.workflows, out.enrollments
        )

    def _fan_out_input(self) -> FanOutInput:
        assert self._data is not None
        return FanOutInput(
            self._data.tenant_id,
            self._data.campaign_id,
            lead_sequence_prefix(self._data.tenant_id, self._data.campaign_id),
        )

    # -- updates -------------------------------------------------------------------------------

    @workflow.update
    async def start(self, request: StartRequest) -> CampaignView:
        async with self._lock:
            self._state.scheduled_at = request.scheduled_at
            later = (
                request.scheduled_at
                and datetime.fromisoformat(request.scheduled_at) > workflow.now()
            )
            await self._set_db_status("scheduled" if later else "sending")
            return self._view()

    @start.validator
    def _validate_start(self, request: StartRequest) -> None:
        self._check_tenant(request.tenant_id)
        if self._state.status != "draft":
            raise ApplicationError(f"a {self._state.status} campaign cannot start")
        if request.scheduled_at is not None:
            try:
                at = datetime.fromisoformat(request.scheduled_at)
            except ValueError:
                raise ApplicationError("scheduled_at is not an ISO-8601 time") from None
            if at.tzinfo is None:
                raise ApplicationError("scheduled_at needs a time zone (UTC)")

    @workflow.update
    async def pause(self, request: PauseRequest) -> PauseOutput:
        assert self._data is not None
        async with self._lock:
            out: PauseOutput = await self._activity(
                PAUSE_CAMPAIGN,
                PauseInput(
                    self._data.tenant_id,
                    self._data.campaign_id,
                    request.reason,
                    self._data.pause_lock_timeout_ms,
                    request.notice_title,
                    request.notice,
                ),
                PauseOutput,
                f"pause ({request.reason}): wait for the sends in flight",
                DB_TIMEOUT + timedelta(milliseconds=self._data.pause_lock_timeout_ms),
            )
            workflow.logger.info("pause_campaign -> %s", out.note)
            self._state.pause_reasons = list(out.reasons)
            if out.status == "paused":
                self._set_status("paused")
            return out

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._check_tenant(request.tenant_id)
        if request.reason not in PAUSE_REASONS:
            raise ApplicationError(f"unknown pause reason {request.reason!r}")
        if self._state.status not in ("scheduled", "sending", "paused"):
            raise ApplicationError(f"a {self._state.status} campaign cannot pause")

    @workflow.update
    async def resume(self, request: ResumeRequest) -> CampaignView:
        assert self._data is not None
        async with self._lock:
            out: ResumeOutput = await self._activity(
                RESUME_CAMPAIGN,
                ResumeInput(self._data.tenant_id, self._data.campaign_id, request.reason),
                ResumeOutput,
                f"lift the {request.reason} pause",
            )
            self._state.pause_reasons = list(out.reasons)
            if not out.reasons and self._state.status == "paused":
                at = self._state.scheduled_at
                if at and datetime.fromisoformat(at) > workflow.now():
                    await self._set_db_status("scheduled")
                else:
                    self._set_status("sending")
                    self._state.resume_to_notify = True
            return self._view()

    @resume.validator
    def _validate_resume(self, request: ResumeRequest) -> None:
        self._check_tenant(request.tenant_id)
        if request.reason not in PAUSE_REASONS:
            raise ApplicationError(f"unknown pause reason {request.reason!r}")
        if self._state.status != "paused":
            raise ApplicationError(f"a {self._state.status} campaign is not paused")

    @workflow.update
    async def cancel(self, request: CancelRequest) -> CampaignView:
        async with self._lock:
            if self._state.status not in ENDED:
                await self._set_db_status("cancelled")
            return self._view()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._check_tenant(request.tenant_id)
        if self._state.status in ENDED:
            raise ApplicationError(f"a {self._state.status} campaign cannot be cancelled")

    # -- signals and queries -------------------------------------------------------------------

    @workflow.signal(name=SIGNAL_ENROLLED)
    def enrolled(self, _: CampaignNudge) -> None:
        self._nudged = True

    @workflow.signal(name=SIGNAL_LEAD_FINISHED)
    def lead_finished(self, _: CampaignNudge) -> None:
        self._finished += 1

    @workflow.query
    def get_status(self) -> CampaignView:
        return self._view()

    @workflow.query
    def get_progress(self) -> CampaignProgress:
        last = self._last
        return CampaignProgress(
            self._state.status,
            self._state.started_total,
            self._window,
            last.capacity_today,
            last.pending,
            last.active,
            last.open,
            self._state.runs,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _check_tenant(self, tenant_id: str) -> None:
        if self._data is None or tenant_id != self._data.tenant_id:
            raise ApplicationError("the request's tenant is not the campaign's")

    def _view(self) -> CampaignView:
        s = self._state
        return CampaignView(
            s.status, list(s.pause_reasons), s.scheduled_at, s.started_at, s.completed_at
        )

    def _set_status(self, status: str) -> None:
        if status != self._state.status:
            self._state.status = status
            self._publish_status()

    def _publish_status(self) -> None:
        workflow.upsert_search_attributes([CAMPAIGN_STATUS.value_set(self._state.status)])

    async def _set_db_status(self, status: str, when_done: bool = False) -> None:
        assert self._data is not None
        out: CampaignStatusOutput = await self._activity(
            SET_CAMPAIGN_STATUS,
            SetStatusInput(self._data.tenant_id, self._data.campaign_id, status, when_done),
            CampaignStatusOutput,
            f"status {status}",
        )
        self._state.started_at = out.started_at
        self._state.completed_at = out.completed_at
        # The database's answer: an ended campaign keeps its end (a cancel that lost the race
        # to completion says completed).
        self._set_status(out.status)

    async def _activity(
        self,
        name: str,
        arg: object,
        result: type[T],
        summary: str,
        start_to_close: timedelta = DB_TIMEOUT,
    ) -> T:
        out: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result,
            start_to_close_timeout=start_to_close,
            retry_policy=RETRY,
            summary=summary,
        )
        return out
