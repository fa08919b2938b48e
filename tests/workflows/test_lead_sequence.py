"""The LeadSequenceWorkflow's orchestration on the time-skipping server, with fakes under
the real activity names (the real activities run in tests/workflows/test_campaign_engine.py
against Postgres and the dev server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.campaigns import (
    EVALUATE_CONDITION,
    LOAD_LEAD_SEQUENCE,
    NEXT_SEND_SLOT,
    RECORD_LEAD_ENDING,
    RECORD_LEAD_PROGRESS,
    SIGNAL_CAMPAIGN_RESUMED,
    SIGNAL_OUT_OF_OFFICE,
    SIGNAL_REPLY,
    STOP_COMPANY_LEADS,
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
    DeliverInput,
    DeliverOutput,
)
from tests.workflows.recording import keep_history
from workflows.lead_sequence import LeadSequenceInput, LeadSequenceOutput, LeadSequenceWorkflow
from workflows.names import lead_sequence_workflow_id, tenant_attributes, vps_sending_queue

TENANT, CAMPAIGN = str(uuid.uuid4()), str(uuid.uuid4())

EMAIL_WAIT_CONDITION_EMAIL = [
    SequenceStep("s1", 1, "email"),
    SequenceStep("s2", 2, "wait", wait_hours=72),
    SequenceStep("s3", 3, "condition", condition_type="no_reply"),
    SequenceStep("s4", 4, "email"),
]


@dataclass
class Fakes:
    steps: list[SequenceStep]
    # Each deliver_step answers the next outcome (then "sent" for ever).
    outcomes: list[DeliverOutput] = field(default_factory=list)
    condition_met: bool = True
    stop_for_company: bool = False
    slot_delay: timedelta = timedelta(0)
    # The first deliver_step answers deferred with retry_at this far after its own time.
    defer_for: timedelta | None = None
    ended_elsewhere: bool = False  # record_lead_progress finds the enrollment ended
    delivered: list[tuple[datetime, DeliverInput]] = field(default_factory=list)
    slots: list[NextSlotInput] = field(default_factory=list)
    progress: list[LeadProgressInput] = field(default_factory=list)
    endings: list[LeadEndingInput] = field(default_factory=list)
    ended_at: list[datetime] = field(default_factory=list)
    company_stops: list[StopCompanyInput] = field(default_factory=list)
    sent_once: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name=LOAD_LEAD_SEQUENCE)
    async def load(self, data: LoadSequenceInput) -> LoadSequenceOutput:
        return LoadSequenceOutput(
            True, "active", 0, self.steps, True, self.stop_for_company, variant_draw=0.25
        )

    @activity.defn(name=NEXT_SEND_SLOT)
    async def slot(self, data: NextSlotInput) -> NextSlotOutput:
        self.slots.append(data)
        at = datetime.fromisoformat(data.not_before) + self.slot_delay
        return NextSlotOutput(at.isoformat(), "America/New_York", False, at.isoformat(), "ok")

    @activity.defn(name=DELIVER_STEP)
    async def deliver(self, data: DeliverInput) -> DeliverOutput:
        now = activity.info().scheduled_time
        self.delivered.append((now, data))
        if self.defer_for is not None and len(self.delivered) == 1:
            return DeliverOutput(
                "deferred", "mailbox_daily_cap", (now + self.defer_for).isoformat()
            )
        out = self.outcomes.pop(0) if self.outcomes else None
        if out is None:
            n = len(self.delivered)
            out = DeliverOutput("sent", mailbox_id="mb-1", message_id=f"<m{n}@send.test>")
            self.sent_once.set()
        return out

    @activity.defn(name=EVALUATE_CONDITION)
    async def condition(self, data: ConditionInput) -> ConditionOutput:
        return ConditionOutput(self.condition_met, data.condition_type)

    @activity.defn(name=RECORD_LEAD_PROGRESS)
    async def record_progress(self, data: LeadProgressInput) -> LeadProgressOutput:
        self.progress.append(data)
        return LeadProgressOutput(not self.ended_elsewhere)

    @activity.defn(name=RECORD_LEAD_ENDING)
    async def record_ending(self, data: LeadEndingInput) -> LeadEndingOutput:
        self.endings.append(data)
        self.ended_at.append(activity.info().scheduled_time)
        return LeadEndingOutput(data.status, True)

    @activity.defn(name=STOP_COMPANY_LEADS)
    async def stop_company(self, data: StopCompanyInput) -> StopCompanyOutput:
        self.company_stops.append(data)
        return StopCompanyOutput("acme.test", 2, "acme.test: 2 stopped")

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.load,
            self.slot,
            self.deliver,
            self.condition,
            self.record_progress,
            self.record_ending,
            self.stop_company,
        ]


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, fakes: Fakes, **options: Any
) -> AsyncIterator[WorkflowHandle[Any, LeadSequenceOutput]]:
    queue = f"campaigns-{uuid.uuid4().hex[:6]}"
    lead = str(uuid.uuid4())
    async with Worker(
        env.client, task_queue=queue, workflows=[LeadSequenceWorkflow], activities=fakes.all()
    ):
        yield await env.client.start_workflow(
            LeadSequenceWorkflow.run,
            LeadSequenceInput(TENANT, CAMPAIGN, lead, sending_queue=queue, **options),
            id=lead_sequence_workflow_id(TENANT, CAMPAIGN, lead),
            task_queue=queue,
            search_attributes=tenant_attributes(TENANT, campaign_id=CAMPAIGN, lead_id=lead),
        )


async def test_three_steps_over_days_complete_with_the_sticky_mailbox_and_thread(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(EMAIL_WAIT_CONDITION_EMAIL, slot_delay=timedelta(hours=5))
    async with running(temporal_time_skipping, fakes) as handle:
        out = await handle.result()
        history = await handle.fetch_history()
    assert (out.status, out.steps_done, out.sent) == ("completed", 4, 2)
    # Each send heartbeats: a killed worker's send is retried within seconds.
    sends = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == DELIVER_STEP
    ]
    assert len(sends) == 2
    assert all(
        (a.heartbeat_timeout.ToTimedelta(), a.start_to_close_timeout.ToTimedelta())
        == (DELIVER_HEARTBEAT_TIMEOUT, DELIVER_TIMEOUT)
        for a in sends
    )
    (first_at, first), (second_at, second) = fakes.delivered
    assert (first.mailbox_id, first.thread_message_id, first.variant_draw) == (None, None, 0.25)
    # Follow-ups go from the first touch's mailbox, threaded under its Message-ID.
    assert (second.mailbox_id, second.thread_message_id) == ("mb-1", "<m1@send.test>")
    # The wait, then the second step's own sending slot 5 h later.
    assert second_at - first_at >= timedelta(hours=72 + 5)
    assert [p.step_order for p in fakes.progress] == [1, 2, 3, 4]
    assert fakes.progress[0].mailbox_id == "mb-1"  # recorded once, on the first touch
    assert all(p.mailbox_id is None for p in fakes.progress[1:])
    assert [(e.status, e.reason) for e in fakes.endings] == [("completed", "")]


async def test_a_condition_that_does_not_hold_ends_the_sequence(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(EMAIL_WAIT_CONDITION_EMAIL, condition_met=False)
    # Its campaign has ended (no such workflow): telling it fails quietly.
    gone = f"campaign:{TENANT}:{uuid.uuid4()}"
    async with running(temporal_time_skipping, fakes, campaign_workflow_id=gone) as handle:
        out = await handle.result()
    assert (out.status, out.reason) == ("completed", "condition_not_met:no_reply")
    assert len(fakes.delivered) == 1


async def test_a_reply_stops_the_sequence_at_once_and_the_company_with_it(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(EMAIL_WAIT_CONDITION_EMAIL, stop_for_company=True)
    async with running(temporal_time_skipping, fakes) as handle:
        await fakes.sent_once.wait()
        await handle.signal(SIGNAL_REPLY, LeadSignal(TENANT, "<reply@lead.test>"))
        out = await handle.result()
    assert (out.status, out.reason) == ("replied", "reply")
    assert len(fakes.delivered) == 1
    # The 72 h wait was cut short: the ending came in the first touch's hour.
    assert fakes.ended_at[0] - fakes.delivered[0][0] < timedelta(hours=1)
    assert [e.status for e in fakes.endings] == ["replied"]
    (stop,) = fakes.company_stops
    assert stop.lead_workflow_prefix == f"lead-sequence:{TENANT}:{CAMPAIGN}:"


async def test_deferred_waits_for_its_retry_time_then_delivers(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes([SequenceStep("s1", 1, "email")], defer_for=timedelta(hours=7))
    async with running(temporal_time_skipping, fakes) as handle:
        out = await handle.result()
    assert (out.status, out.sent) == ("completed", 1)
    retry_at = fakes.delivered[0][0] + timedelta(hours=7)
    assert datetime.fromisoformat(fakes.slots[1].not_before) == retry_at
    assert fakes.delivered[1][0] >= retry_at


async def test_a_paused_campaign_holds_the_lead_until_the_resume_signal(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(
        [SequenceStep("s1", 1, "email")],
        outcomes=[DeliverOutput("deferred", "campaign_not_sending")],
    )
    async with running(temporal_time_skipping, fakes) as handle:
        for _ in range(200):
            state = await handle.query(LeadSequenceWorkflow.get_state)
            if state.phase == "paused_campaign":
                break
            await asyncio.sleep(0.05)
        assert state.phase == "paused_campaign"
        await handle.signal(SIGNAL_CAMPAIGN_RESUMED, LeadSignal(TENANT))
        out = await handle.result()
    assert (out.status, out.sent) == ("completed", 1)
    (paused_at, _), (sent_at, _) = fakes.delivered
    assert sent_at - paused_at < timedelta(hours=24)  # the signal, not the daily re-check


async def test_a_paused_lead_waits_for_its_resume_uncounted_and_goes_on_from_its_step(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    # Step 1 went out; the tenant paused the lead before step 2 (its send refused).
    fakes = Fakes(
        [SequenceStep("s1", 1, "email"), SequenceStep("s2", 2, "email")],
        outcomes=[
            DeliverOutput("sent", mailbox_id="mb-1", message_id="<m1@send.test>"),
            DeliverOutput("deferred", "lead_paused"),
        ],
    )
    # One deferral allowed: a paused lead's wait must not count as one.
    async with running(temporal_time_skipping, fakes, max_deferrals=1) as handle:
        for _ in range(200):
            state = await handle.query(LeadSequenceWorkflow.get_state)
            if state.phase == "paused_lead":
                break
            await asyncio.sleep(0.05)
        assert (state.phase, state.step_order) == ("paused_lead", 2)
        await handle.signal(SIGNAL_CAMPAIGN_RESUMED, LeadSignal(TENANT, "lead resumed"))
        out = await handle.result()
    assert (out.status, out.sent) == ("completed", 2)
    steps = [d.step_id for _, d in fakes.delivered]
    assert steps == ["s1", "s2", "s2"]  # step 2 again, step 1 not resent
    (_, _), (paused_at, _), (sent_at, second) = fakes.delivered
    assert sent_at - paused_at < timedelta(hours=24)  # the signal, not the daily re-check
    assert (second.mailbox_id, second.thread_message_id) == ("mb-1", "<m1@send.test>")


async def test_stopped_ends_the_lead_and_unknown_moves_on_unconfirmed(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    two_emails = [SequenceStep("s1", 1, "email"), SequenceStep("s2", 2, "email")]
    fakes = Fakes(two_emails, outcomes=[DeliverOutput("stopped", "bounced")])
    async with running(temporal_time_skipping, fakes) as handle:
        out = await handle.result()
    assert (out.status, out.reason, len(fakes.delivered)) == ("bounced", "bounced", 1)

    unknown = DeliverOutput("unknown", mailbox_id="mb-2", message_id="<u@send.test>")
    fakes = Fakes(two_emails, outcomes=[unknown])
    async with running(temporal_time_skipping, fakes) as handle:
        out = await handle.result()
    assert (out.status, out.sent, len(fakes.delivered)) == ("completed", 1, 2)
    assert fakes.progress[0].skip_reason == "delivery_unknown"
    assert fakes.delivered[1][1].mailbox_id == "mb-2"


async def test_too_many_deferrals_fail_the_lead(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    gap = DeliverOutput("deferred", "smtp_transient")
    fakes = Fakes([SequenceStep("s1", 1, "email")], outcomes=[gap] * 9)
    async with running(temporal_time_skipping, fakes, max_deferrals=9) as handle:
        out = await handle.result()
    assert (out.status, out.reason) == ("failed", "too_many_deferrals:smtp_transient")
    assert len(fakes.delivered) == 9
    # Backoff doubles from 5 min (5, 10, ... 640 min) to the 6 h cap between attempts.
    times = [t for t, _ in fakes.delivered]
    assert times[1] - times[0] >= timedelta(minutes=5)
    assert times[-1] - times[-2] >= timedelta(hours=6)


async def test_a_send_routed_to_a_server_goes_there_and_its_follow_up_directly(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    """The shared queue answers `other_host`; the server's worker (its own queue) sends the
    first touch on the chosen mailbox, and the follow-up three days later goes straight to
    it. The history is kept for the replay tests."""
    env = temporal_time_skipping
    server = str(uuid.uuid4())
    routed = DeliverOutput("deferred", "other_host", mailbox_id="mb-on-server", host_vps_id=server)
    fakes = Fakes(
        [SequenceStep("s1", 1, "email"), SequenceStep("s2", 2, "wait", wait_hours=72),
         SequenceStep("s3", 3, "email")],
        outcomes=[routed],
    )  # fmt: skip
    on_server: list[DeliverInput] = []

    @activity.defn(name=DELIVER_STEP)
    async def deliver_on_server(data: DeliverInput) -> DeliverOutput:
        on_server.append(data)
        n = len(on_server)
        return DeliverOutput("sent", mailbox_id=data.mailbox_id, message_id=f"<s{n}@send.test>")

    async with (
        Worker(env.client, task_queue=vps_sending_queue(server), activities=[deliver_on_server]),
        running(env, fakes) as handle,
    ):
        out = await handle.result()
        await keep_history(handle, "lead_sequence_routed_to_server")
    assert (out.status, out.sent) == ("completed", 2)
    assert len(fakes.delivered) == 1  # the shared queue, once: it named the server
    assert [d.mailbox_id for d in on_server] == ["mb-on-server", "mb-on-server"]
    assert on_server[1].thread_message_id == "<s1@send.test>"


async def test_a_send_routed_to_a_server_without_a_worker_is_a_deferral_then_goes_on(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    """The shared queue names a server whose worker is down (nothing polls its queue): after
    `host_start_seconds` the call counts as a deferral, and the next try starts from the
    shared queue again (here the mailbox no longer needs that server: sent). (The
    time-skipping server does not skip a schedule-to-start timeout: a short one, in real
    time.)"""
    routed = DeliverOutput(
        "deferred", "other_host", mailbox_id="mb-on-server", host_vps_id=str(uuid.uuid4())
    )
    fakes = Fakes([SequenceStep("s1", 1, "email")], outcomes=[routed])
    async with running(temporal_time_skipping, fakes, host_start_seconds=1) as handle:
        out = await handle.result()
    assert (out.status, out.sent) == ("completed", 1)
    # Both calls on the shared queue (the fakes' worker); none reached the server's queue.
    [(first, asked), (second, again)] = fakes.delivered
    assert asked.mailbox_id is None and again.mailbox_id is None
    assert second - first >= timedelta(minutes=5)  # the deferral's backoff
    assert len(fakes.slots) == 2  # the deferral asked for a new slot


async def test_an_enrollment_ended_elsewhere_sends_nothing_more(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    fakes = Fakes(EMAIL_WAIT_CONDITION_EMAIL, ended_elsewhere=True)
    async with running(temporal_time_skipping, fakes) as handle:
        out = await handle.result()
    assert (out.reason, len(fakes.delivered), len(fakes.progress)) == ("enrollment_ended", 1, 1)
    assert [e.reason for e in fakes.endings] == ["enrollment_ended"]


async def test_an_out_of_office_return_date_delays_the_next_send_until_then(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    steps = [
        SequenceStep("s1", 1, "email"),
        SequenceStep("s2", 2, "wait", wait_hours=24),
        SequenceStep("s3", 3, "email"),
    ]
    fakes = Fakes(steps)
    async with running(temporal_time_skipping, fakes) as handle:
        await fakes.sent_once.wait()
        back = (await temporal_time_skipping.get_current_time()).date() + timedelta(days=10)
        await handle.signal(SIGNAL_OUT_OF_OFFICE, LeadSignal(TENANT, back.isoformat()))
        await handle.signal(SIGNAL_OUT_OF_OFFICE, LeadSignal(TENANT, "not a date"))  # ignored
        out = await handle.result()
    assert out.status == "completed" and out.sent == 2
    second = datetime.fromisoformat(fakes.slots[1].not_before)
    assert second.date() == back and second.hour == 0
    assert fakes.delivered[1][0].date() == back
