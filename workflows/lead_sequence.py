"""A lead's sequence in one campaign: one workflow per (campaign, lead), on the `campaigns`
queue, id `lead-sequence:{tenant}:{campaign}:{lead}`, started by the campaign workflow.

It walks the campaign's active steps after the enrollment's `current_step`:
- wait steps are durable timers (`wait_duration_hours`, or until `wait_until_date`);
- e-mail steps ask `next_send_slot` (an activity: time-zone data never enters workflow
  code), sleep until the slot, and call `deliver_step` on the `sending` queue, or on the
  sending queue of the server whose IP the mailbox's domain sends from when the activity
  answers `other_host` (follow-ups go there directly; a call no worker of that server
  takes within `host_start_seconds` is a deferral, `host_unavailable`). `deferred`:
  the slot is asked again from `retry_at` (or a doubling backoff), at most `max_deferrals`
  times per step, then the lead ends `failed`; `campaign_not_sending` (paused) waits for the
  campaign's resume signal, with a daily re-check as a safety net, and is not counted; so
  does `lead_paused` (the tenant paused this lead: its resume signals it).
  `stopped` ends the lead (`bounced`, or `stopped` with the reason). `unknown` (an earlier
  attempt may have reached DATA, the mailbox cannot tell) is never resent: the step counts
  as done, unconfirmed (`last_skip_reason = delivery_unknown`), and the sequence moves on,
  because the likelier truth is that the message went out, and the follow-ups were written
  to follow it;
- condition steps are evaluated at their time by an activity against the analytics database;
  when the condition does not hold, the sequence ends `completed` (or, with
  `condition_value = skip_next`, skips the next step).

`out_of_office` (its detail a return date) makes the next send asked after it wait until
that date; it does not end the sequence.

The signals `reply`, `unsubscribe`, `bounce`, `complaint` end it at once wherever it waits
(a send already in flight finishes first: an SMTP exchange is never cut), and mark the
enrollment; a reply only when the campaign stops on reply, and then, with stop-for-company,
stops the campaign's other leads at the same company domain too. A cancel (the campaign's
cancel, an erasure, stop-for-company) marks the enrollment `stopped` before it ends.

The sticky mailbox and the first message's Message-ID come back from the first send and
go to every later one (threading); both are kept in the database (the enrollment's
mailbox, the outbox row), so a restarted sequence finds them.

No continue-as-new: the history is bounded. A lead has a handful of steps; each costs a few
activities and a timer, and each deferral loop (slot, timer, send and their workflow tasks:
about 14 events) runs at most `max_deferrals` times per step, so ten e-mail steps with every
deferral spent stay near 14,000 events, far below Temporal's 51,200.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    TimeoutType,
)
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.campaigns import (
        CONDITION_ELSE_SKIP_NEXT,
        ENDING_STATUS,
        EVALUATE_CONDITION,
        LOAD_LEAD_SEQUENCE,
        NEXT_SEND_SLOT,
        RECORD_LEAD_ENDING,
        RECORD_LEAD_PROGRESS,
        SIGNAL_BOUNCE,
        SIGNAL_CAMPAIGN_RESUMED,
        SIGNAL_COMPLAINT,
        SIGNAL_LEAD_FINISHED,
        SIGNAL_OUT_OF_OFFICE,
        SIGNAL_REPLY,
        SIGNAL_UNSUBSCRIBE,
        STEP_CONDITION,
        STEP_EMAIL,
        STEP_WAIT,
        STOP_COMPANY_LEADS,
        CampaignNudge,
        ConditionInput,
        ConditionOutput,
        LeadEndingInput,
        LeadEndingOutput,
        LeadProgressInput,
        LeadProgressOutput,
        LeadSignal,
        LoadSequenceInput,
        LoadSequenceOutput,
        NextSlotInput,
        NextSlotOutput,
        SequenceStep,
        StopCompanyInput,
        StopCompanyOutput,
    )
    from activities.interfaces.delivery import (
        DELIVER_HEARTBEAT_TIMEOUT,
        DELIVER_STEP,
        DELIVER_TIMEOUT,
        HOST_START_TIMEOUT,
        MAX_HOST_HOPS,
        OUTCOME_DEFERRED,
        OUTCOME_SENT,
        OUTCOME_STOPPED,
        OUTCOME_UNKNOWN,
        REASON_CAMPAIGN_NOT_SENDING,
        REASON_HOST_UNAVAILABLE,
        REASON_LEAD_PAUSED,
        REASON_OTHER_HOST,
        DeliverInput,
        DeliverOutput,
    )
    from workflows.names import TaskQueue, lead_sequence_prefix, vps_sending_queue

T = TypeVar("T")

# Database activities: retried (1 s doubling to 30 s) until they succeed, unless the input
# itself is wrong (InvalidCampaignInput) or a template cannot render (TemplateError).
NON_RETRYABLE = ["InvalidCampaignInput", "TemplateError"]
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE)
DB_TIMEOUT = timedelta(seconds=60)
# deliver_step before it heartbeated: 5 minutes, so a send whose worker was killed waited
# that long for its retry. Histories from before the patch replay with it.
LEGACY_DELIVER_TIMEOUT = timedelta(minutes=5)
DELIVER_HEARTBEAT_PATCH = "deliver-step-heartbeat"
# Deferrals that wait for a resume signal (the campaign's, or the lead's own), uncounted. A
# lead could not be paused while its sequence ran before `lead_paused` existed, so no
# earlier history holds one: the branch replays as it ran.
WAIT_FOR_RESUME = frozenset({REASON_CAMPAIGN_NOT_SENDING, REASON_LEAD_PAUSED})
TOO_MANY_DEFERRALS = "too_many_deferrals"


@dataclass(frozen=True)
class LeadSequenceInput:
    tenant_id: str
    campaign_id: str
    lead_id: str
    # The campaign's workflow id (not a run id): told when this lead ends, so its
    # enrollment window refills without waiting for its next look at the table.
    campaign_workflow_id: str | None = None
    max_deferrals: int = 100
    backoff_seconds: int = 300  # a deferral without retry_at: 5 min doubling...
    max_backoff_seconds: int = 6 * 3600  # ...to 6 h
    resume_check_hours: int = 24  # a paused campaign re-checked daily if no signal came
    sending_queue: str = TaskQueue.SENDING.value  # where deliver_step runs
    # How long a send routed to a server's own queue waits for that server's worker.
    host_start_seconds: float = HOST_START_TIMEOUT.total_seconds()


@dataclass(frozen=True)
class LeadSequenceOutput:
    status: str  # the enrollment's status at the end
    reason: str = ""
    steps_done: int = 0
    sent: int = 0


@dataclass(frozen=True)
class LeadState:
    # starting | waiting | sending | paused_campaign | paused_lead | ended
    phase: str = "starting"
    step_order: int = 0
    next_action_at: str | None = None
    sent: int = 0
    mailbox_id: str | None = None
    status: str | None = None  # the ending, once ended


class _Ended(Exception):
    """Internal: a signal ended the sequence while it waited."""


class _EnrollmentEnded(Exception):
    """Internal: the enrollment ended elsewhere (stop-for-company, removed by the tenant)."""


@workflow.defn(name="LeadSequenceWorkflow")
class LeadSequenceWorkflow:
    def __init__(self) -> None:
        self._ending: str | None = None  # the first of unsubscribe / bounce / complaint
        self._replied = False
        self._stop_on_reply = True
        self._stop_for_company = False
        self._resumed = False
        self._back_at: datetime | None = None  # an out-of-office notice's return date
        # The sending queue of the host that sent the last message (None: the shared one):
        # a follow-up goes to the same host directly.
        self._send_queue: str | None = None
        self._state = LeadState()

    # -- signals and query ---------------------------------------------------------------------

    def _end_signal(self, name: str) -> None:
        if self._ending is None:
            self._ending = name

    @workflow.signal(name=SIGNAL_REPLY)
    def reply(self, _: LeadSignal) -> None:
        self._replied = True

    @workflow.signal(name=SIGNAL_UNSUBSCRIBE)
    def unsubscribe(self, _: LeadSignal) -> None:
        self._end_signal(SIGNAL_UNSUBSCRIBE)

    @workflow.signal(name=SIGNAL_BOUNCE)
    def bounce(self, _: LeadSignal) -> None:
        self._end_signal(SIGNAL_BOUNCE)

    @workflow.signal(name=SIGNAL_COMPLAINT)
    def complaint(self, _: LeadSignal) -> None:
        self._end_signal(SIGNAL_COMPLAINT)

    @workflow.signal(name=SIGNAL_OUT_OF_OFFICE)
    def out_of_office(self, signal: LeadSignal) -> None:
        """The lead is away until `detail` (an ISO date): the next send waits until then.
        Without this signal nothing changes, so older histories replay as they ran."""
        with contextlib.suppress(ValueError):
            back = datetime.fromisoformat(signal.detail)
            self._back_at = back if back.tzinfo else back.replace(tzinfo=UTC)

    @workflow.signal(name=SIGNAL_CAMPAIGN_RESUMED)
    def campaign_resumed(self, _: LeadSignal) -> None:
        self._resumed = True

    @workflow.query
    def get_state(self) -> LeadState:
        return self._state

    def _ended(self) -> bool:
        """The fact that ends the sequence, if one arrived (a reply counts when the campaign
        stops on reply)."""
        return self._ending is not None or (self._replied and self._stop_on_reply)

    def _ending_signal(self) -> str:
        if self._replied and self._stop_on_reply:
            return SIGNAL_REPLY if self._ending is None else self._ending
        return self._ending or SIGNAL_REPLY

    # -- the run -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: LeadSequenceInput) -> LeadSequenceOutput:
        try:
            return await self._walk(data)
        except (asyncio.CancelledError, ActivityError) as exc:
            if isinstance(exc, ActivityError) and not isinstance(exc.cause, CancelledError):
                raise
            # Cancelled by the campaign's cancel, an erasure or stop-for-company: the
            # enrollment says so (an earlier ending stays), then the cancel completes.
            await self._finish(data, "stopped", "cancelled")
            raise asyncio.CancelledError() from None

    async def _walk(self, data: LeadSequenceInput) -> LeadSequenceOutput:
        plan: LoadSequenceOutput = await self._activity(
            LOAD_LEAD_SEQUENCE,
            LoadSequenceInput(data.tenant_id, data.campaign_id, data.lead_id),
            LoadSequenceOutput,
            "load the enrollment and the campaign's steps",
        )
        if not plan.open:
            self._state = replace(self._state, phase="ended", status=plan.status)
            return LeadSequenceOutput(plan.status, plan.note)
        self._stop_on_reply = plan.stop_on_reply
        self._stop_for_company = plan.stop_for_company
        mailbox, thread = plan.mailbox_id, plan.thread_message_id
        steps_done = sent = 0
        skip_next = False
        try:
            for step in plan.steps:
                if self._ended():
                    raise _Ended
                self._state = replace(self._state, step_order=step.step_order, phase="waiting")
                if skip_next:
                    skip_next = False
                    await self._progress(data, step, None, "skipped_by_condition")
                    continue
                if step.step_type == STEP_WAIT:
                    await self._wait_step(step)
                    await self._progress(data, step, None, None)
                elif step.step_type == STEP_CONDITION:
                    met = await self._condition(data, step)
                    await self._progress(data, step, None, None if met else "condition_not_met")
                    if not met:
                        if step.condition_value != CONDITION_ELSE_SKIP_NEXT:
                            return await self._finish(
                                data,
                                "completed",
                                f"condition_not_met:{step.condition_type}",
                                steps_done + 1,
                            )
                        skip_next = True
                elif step.step_type == STEP_EMAIL:
                    out = await self._send(data, step, mailbox, thread, plan.variant_draw)
                    if out.outcome == OUTCOME_STOPPED:
                        status = "bounced" if out.reason == "bounced" else "stopped"
                        return await self._finish(data, status, out.reason, steps_done)
                    if out.outcome == OUTCOME_DEFERRED:  # gave up after max_deferrals
                        return await self._finish(
                            data, "failed", f"{TOO_MANY_DEFERRALS}:{out.reason}", steps_done
                        )
                    first_touch = mailbox is None and out.mailbox_id is not None
                    mailbox = mailbox or out.mailbox_id
                    thread = thread or out.message_id
                    sent += out.outcome == OUTCOME_SENT
                    self._state = replace(self._state, sent=sent, mailbox_id=mailbox)
                    unconfirmed = "delivery_unknown" if out.outcome == OUTCOME_UNKNOWN else None
                    await self._progress(
                        data, step, out.mailbox_id if first_touch else None, unconfirmed
                    )
                else:
                    await self._progress(data, step, None, f"unknown_step_type:{step.step_type}")
                steps_done += 1
        except _Ended:
            return await self._finish_by_signal(data, steps_done)
        except _EnrollmentEnded:
            # Its ending stays as written; this only tells the campaign.
            return await self._finish(data, "stopped", "enrollment_ended", steps_done)
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in NON_RETRYABLE:
                return await self._finish(data, "failed", cause.message, steps_done)
            raise
        if self._ended():
            return await self._finish_by_signal(data, steps_done)
        return await self._finish(data, "completed", "", steps_done, sent)

    # -- steps ---------------------------------------------------------------------------------

    async def _wait_step(self, step: SequenceStep) -> None:
        if step.wait_until:
            until = datetime.fromisoformat(step.wait_until)
            await self._sleep_until(until, f"step {step.step_order}: wait until {step.wait_until}")
        elif step.wait_hours:
            until = workflow.now() + timedelta(hours=step.wait_hours)
            await self._sleep_until(until, f"step {step.step_order}: wait {step.wait_hours} h")

    async def _condition(self, data: LeadSequenceInput, step: SequenceStep) -> bool:
        out: ConditionOutput = await self._activity(
            EVALUATE_CONDITION,
            ConditionInput(
                data.tenant_id, data.campaign_id, data.lead_id, step.condition_type or "always"
            ),
            ConditionOutput,
            f"step {step.step_order}: condition {step.condition_type}",
        )
        workflow.logger.info("evaluate_condition -> %s (%s)", out.met, out.note)
        return out.met

    async def _send(
        self,
        data: LeadSequenceInput,
        step: SequenceStep,
        mailbox: str | None,
        thread: str | None,
        draw: float,
    ) -> DeliverOutput:
        """The step's send, through its deferrals; raises _Ended when a signal ends the lead
        while it waits."""
        not_before = workflow.now()
        if self._back_at is not None and self._back_at > not_before:
            not_before = self._back_at
        deferrals = 0
        while True:
            slot: NextSlotOutput = await self._activity(
                NEXT_SEND_SLOT,
                NextSlotInput(data.tenant_id, data.campaign_id, data.lead_id, _iso(not_before)),
                NextSlotOutput,
                f"step {step.step_order}: next sending slot",
            )
            workflow.logger.info("next_send_slot -> %s", slot.note)
            await self._sleep_until(
                datetime.fromisoformat(slot.at), f"step {step.step_order}: until {slot.note}"
            )
            self._state = replace(self._state, phase="sending", next_action_at=None)
            self._resumed = False  # a resume signalled from now on is not missed
            heartbeats = workflow.patched(DELIVER_HEARTBEAT_PATCH)
            out = await self._deliver_routed(data, step, mailbox, thread, draw, heartbeats)
            workflow.logger.info(
                "deliver_step -> %s %s %s", out.outcome, out.reason, out.retry_at or ""
            )
            if out.outcome != OUTCOME_DEFERRED:
                return out
            if out.reason in WAIT_FOR_RESUME:
                phase = "paused_lead" if out.reason == REASON_LEAD_PAUSED else "paused_campaign"
                await self._wait_for_resume(data, phase)
                not_before = workflow.now()
                continue
            deferrals += 1
            if deferrals >= data.max_deferrals:
                return out
            backoff = min(data.backoff_seconds * 2 ** (deferrals - 1), data.max_backoff_seconds)
            not_before = (
                max(datetime.fromisoformat(out.retry_at), workflow.now())
                if out.retry_at
                else workflow.now() + timedelta(seconds=backoff)
            )

    async def _deliver_routed(
        self,
        data: LeadSequenceInput,
        step: SequenceStep,
        mailbox: str | None,
        thread: str | None,
        draw: float,
        heartbeats: bool,
    ) -> DeliverOutput:
        """`deliver_step` on the queue of the host that sent the lead's last message (the
        shared one at first), following `other_host` answers to the host that holds the
        chosen mailbox's IP, at most MAX_HOST_HOPS times. The queue comes only from
        activity results: replay sees the same. Histories from before hosts existed never
        hold an `other_host` answer, so they replay as they ran."""
        queue = self._send_queue or data.sending_queue
        chosen = mailbox
        for hop in range(MAX_HOST_HOPS + 1):
            on_host = queue != data.sending_queue
            try:
                out: DeliverOutput = await workflow.execute_activity(
                    DELIVER_STEP,
                    DeliverInput(
                        data.tenant_id,
                        data.campaign_id,
                        data.lead_id,
                        step.step_id,
                        mailbox_id=chosen,
                        variant_draw=draw,
                        thread_message_id=thread,
                    ),
                    result_type=DeliverOutput,
                    task_queue=queue,
                    schedule_to_start_timeout=(
                        timedelta(seconds=data.host_start_seconds) if on_host else None
                    ),
                    start_to_close_timeout=DELIVER_TIMEOUT
                    if heartbeats
                    else LEGACY_DELIVER_TIMEOUT,
                    heartbeat_timeout=DELIVER_HEARTBEAT_TIMEOUT if heartbeats else None,
                    retry_policy=RETRY,
                    summary=f"step {step.step_order}: deliver",
                )
            except ActivityError as exc:
                if on_host and _not_started(exc):
                    self._send_queue = None  # that host is down or gone: nothing reserved
                    return DeliverOutput(OUTCOME_DEFERRED, REASON_HOST_UNAVAILABLE)
                raise
            if out.outcome != OUTCOME_DEFERRED or out.reason != REASON_OTHER_HOST:
                self._send_queue = None if queue == data.sending_queue else queue
                return out
            if hop == MAX_HOST_HOPS:
                break
            queue = vps_sending_queue(out.host_vps_id) if out.host_vps_id else data.sending_queue
            chosen = out.mailbox_id or mailbox
            workflow.logger.info("deliver_step -> other_host: to %s", queue)
        return out

    async def _wait_for_resume(self, data: LeadSequenceInput, phase: str) -> None:
        """Paused: the campaign's resume fans a signal out to its active leads, a lead's own
        resume signals it; the daily re-check only covers a signal that could not reach it."""
        self._state = replace(self._state, phase=phase)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._resumed or self._ended(),
                timeout=timedelta(hours=data.resume_check_hours),
                timeout_summary="campaign paused: wait for its resume",
            )
        if self._ended():
            raise _Ended

    async def _sleep_until(self, until: datetime, summary: str) -> None:
        """A durable timer that a signal ending the sequence cuts short (raises _Ended)."""
        self._state = replace(self._state, phase="waiting", next_action_at=_iso(until))
        delay = until - workflow.now()
        if delay > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._ended, timeout=delay, timeout_summary=summary)
        if self._ended():
            raise _Ended

    # -- records -------------------------------------------------------------------------------

    async def _progress(
        self, data: LeadSequenceInput, step: SequenceStep, mailbox: str | None, skip: str | None
    ) -> None:
        """The step recorded; raises _EnrollmentEnded when the enrollment has ended
        elsewhere meanwhile, so nothing more goes to the lead."""
        out: LeadProgressOutput = await self._activity(
            RECORD_LEAD_PROGRESS,
            LeadProgressInput(
                data.tenant_id, data.campaign_id, data.lead_id, step.step_order, mailbox, skip
            ),
            LeadProgressOutput,
            f"step {step.step_order}: done" + (f" ({skip})" if skip else ""),
        )
        if not out.recorded:
            raise _EnrollmentEnded

    async def _finish_by_signal(
        self, data: LeadSequenceInput, steps_done: int
    ) -> LeadSequenceOutput:
        name = self._ending_signal()
        if name == SIGNAL_REPLY and self._stop_for_company:
            stopped: StopCompanyOutput = await self._activity(
                STOP_COMPANY_LEADS,
                StopCompanyInput(
                    data.tenant_id,
                    data.campaign_id,
                    data.lead_id,
                    lead_sequence_prefix(data.tenant_id, data.campaign_id),
                ),
                StopCompanyOutput,
                "stop-for-company",
            )
            workflow.logger.info("stop_company_leads -> %s", stopped.note)
        return await self._finish(data, ENDING_STATUS[name], name, steps_done)

    async def _finish(
        self,
        data: LeadSequenceInput,
        status: str,
        reason: str,
        steps_done: int = 0,
        sent: int | None = None,
    ) -> LeadSequenceOutput:
        ended: LeadEndingOutput = await self._activity(
            RECORD_LEAD_ENDING,
            LeadEndingInput(data.tenant_id, data.campaign_id, data.lead_id, status, reason),
            LeadEndingOutput,
            f"ended: {status}" + (f" ({reason})" if reason else ""),
        )
        self._state = replace(self._state, phase="ended", status=ended.status)
        if data.campaign_workflow_id:
            # A campaign that has ended has nobody to tell.
            with contextlib.suppress(FailureError):
                await workflow.get_external_workflow_handle(data.campaign_workflow_id).signal(
                    SIGNAL_LEAD_FINISHED, CampaignNudge(data.tenant_id, data.lead_id)
                )
        return LeadSequenceOutput(
            ended.status, reason, steps_done, self._state.sent if sent is None else sent
        )

    async def _activity(self, name: str, arg: object, result: type[T], summary: str) -> T:
        out: T = await workflow.execute_activity(
            name,
            arg,
            result_type=result,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=RETRY,
            summary=summary,
        )
        return out


def _not_started(exc: ActivityError) -> bool:
    """The call waited in its queue past its schedule-to-start timeout (no worker took it)."""
    cause = exc.cause
    return isinstance(cause, ActivityTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START


def _iso(value: datetime) -> str:
    return value.isoformat()
