"""MailboxInboxWorkflow: its orchestration on the time-skipping server with a fake poll
under the real activity name, then end to end on the dev server with the real worker: a
reply delivered into Dovecot stops the lead's real sequence workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.interfaces.inbound import (
    POLL_MAILBOX_INBOX,
    SIGNAL_WAKE,
    LeadFactOut,
    PollInboxInput,
    PollInboxOutput,
)
from devstack.dovecot import Dovecot
from penguinmails.db import Database
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import inbound_world
from usecases.inbound import start_inbox
from workflows.lead_sequence import LeadSequenceInput, LeadSequenceWorkflow
from workflows.mailbox_inbox import (
    InboxState,
    MailboxInboxInput,
    MailboxInboxOutput,
    MailboxInboxWorkflow,
)
from workflows.names import (
    TaskQueue,
    lead_sequence_workflow_id,
    mailbox_inbox_workflow_id,
    tenant_attributes,
)

TENANT, MAILBOX = str(uuid.uuid4()), str(uuid.uuid4())


@workflow.defn(name="SignalRecorder")
class SignalRecorder:
    """Stands where a lead's sequence would, and keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.heard.append(name)

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.heard) >= expected)
        return self.heard


@dataclass
class FakePolls:
    """Each poll answers the next scripted output (then an empty active one)."""

    script: list[PollInboxOutput]
    calls: list[PollInboxInput] = field(default_factory=list)

    @activity.defn(name=POLL_MAILBOX_INBOX)
    async def poll(self, data: PollInboxInput) -> PollInboxOutput:
        self.calls.append(data)
        return self.script.pop(0) if self.script else PollInboxOutput("active")


@asynccontextmanager
async def serving(env: WorkflowEnvironment, fakes: FakePolls) -> AsyncIterator[str]:
    """A worker on a queue of its own; the queue."""
    queue = f"inbound-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[MailboxInboxWorkflow, SignalRecorder],
        activities=[fakes.poll],
        # The recorder lives in this test module, whose imports the sandbox refuses; the
        # inbox workflow runs sandboxed in the end-to-end test below.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield queue


async def start(
    env: WorkflowEnvironment, queue: str, **options: Any
) -> WorkflowHandle[Any, MailboxInboxOutput]:
    return await env.client.start_workflow(
        MailboxInboxWorkflow.run,
        MailboxInboxInput(TENANT, MAILBOX, **options),
        id=mailbox_inbox_workflow_id(TENANT, f"{MAILBOX}-{queue}"),
        task_queue=queue,
        search_attributes=tenant_attributes(TENANT, mailbox_id=MAILBOX),
    )


@asynccontextmanager
async def inbox(
    env: WorkflowEnvironment, fakes: FakePolls, **options: Any
) -> AsyncIterator[WorkflowHandle[Any, MailboxInboxOutput]]:
    async with serving(env, fakes) as queue:
        yield await start(env, queue, **options)


async def test_facts_reach_each_campaign_s_lead_workflow_and_a_gone_mailbox_ends_it(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    env = temporal_time_skipping
    lead, campaigns = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    facts = [
        LeadFactOut(lead, "reply", "<r@x>", campaigns),
        LeadFactOut(lead, "out_of_office", "2026-03-16", [campaigns[0]]),
        LeadFactOut(str(uuid.uuid4()), "bounce", "5.1.1", [campaigns[0]]),  # nobody runs
    ]
    fakes = FakePolls([PollInboxOutput("active", 3, 3, False, facts), PollInboxOutput("gone")])
    async with serving(env, fakes) as queue:
        recorders = [
            await env.client.start_workflow(
                SignalRecorder.run,
                expected,
                id=lead_sequence_workflow_id(TENANT, c, lead),
                task_queue=queue,
            )
            for c, expected in zip(campaigns, (2, 1), strict=True)
        ]
        handle = await start(env, queue)
        out = await handle.result()
        heard = [await r.result() for r in recorders]
    assert out == MailboxInboxOutput("gone", 2, 3)
    assert heard == [["reply", "out_of_office"], ["reply"]]


async def test_it_sleeps_between_polls_waits_longer_while_inactive_and_wakes_on_signal(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    env = temporal_time_skipping
    fakes = FakePolls(
        [
            PollInboxOutput("active", 100, 100, more=True),  # more waiting: at once again
            PollInboxOutput("active", 1, 1),
            PollInboxOutput("inactive", note="mailbox paused"),
        ]
    )
    async with inbox(env, fakes, poll_seconds=60, inactive_seconds=3600) as handle:
        await env.sleep(timedelta(seconds=90))
        assert len(fakes.calls) == 3  # two at once, one after 60 s
        await env.sleep(timedelta(minutes=30))
        assert len(fakes.calls) == 3  # inactive: an hour between polls
        state: InboxState = await handle.query(MailboxInboxWorkflow.get_state)
        assert (state.mailbox, state.received, state.note) == ("inactive", 101, "mailbox paused")
        await handle.signal(SIGNAL_WAKE)
        for _ in range(100):
            if len(fakes.calls) == 4:
                break
            await asyncio.sleep(0.05)
        assert len(fakes.calls) == 4
        await handle.terminate()


async def test_it_continues_as_new_and_keeps_its_counts(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    env = temporal_time_skipping
    fakes = FakePolls([PollInboxOutput("active", 1, 1) for _ in range(5)])
    async with inbox(env, fakes, poll_seconds=60, max_rounds=2) as handle:
        await env.sleep(timedelta(minutes=5))
        state: InboxState = await handle.query(MailboxInboxWorkflow.get_state)
        description = await handle.describe()
        await handle.terminate()
    assert state.rounds >= 5 and state.received == 5
    assert description.run_id != handle.result_run_id  # a later run than the first


# -- end to end -------------------------------------------------------------------------------


async def test_a_reply_in_the_mailbox_stops_the_lead_s_sequence(
    temporal_client: Client,
    app_worker: Any,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
) -> None:
    world = await inbound_world(db, secret_store, settings, admin_conn, dovecot, leads=1)
    (lead_id, address), (_, message_id) = world.leads[0], world.sent[0]
    # The lead waits three days before its next e-mail: only a signal ends it sooner.
    await admin_conn.execute(
        "UPDATE campaign_sequence_steps SET step_type = 'wait', wait_duration_hours = 72 "
        "WHERE id = $1",
        world.step_id,
    )
    lead = await temporal_client.start_workflow(
        LeadSequenceWorkflow.run,
        LeadSequenceInput(str(world.tenant_id), str(world.campaign_id), str(lead_id)),
        id=lead_sequence_workflow_id(world.tenant_id, world.campaign_id, lead_id),
        task_queue=TaskQueue.CAMPAIGNS,
        search_attributes=tenant_attributes(
            world.tenant_id, campaign_id=str(world.campaign_id), lead_id=str(lead_id)
        ),
    )
    dovecot.deliver(
        world.mailbox,
        samples.human_reply(message_id, address, world.mailbox, "Let's set up a call, Tuesday?"),
    )
    await start_inbox(temporal_client, world.tenant_id, world.mailbox_id)
    ended = await asyncio.wait_for(lead.result(), timeout=120)
    assert ended.status == "replied"
    row = await admin_conn.fetchrow(
        "SELECT classification, category, parent_message_id FROM inbox_message_refs "
        "WHERE tenant_id = $1 AND direction = 'inbound'",
        world.tenant_id,
    )
    assert (row["classification"], row["category"]) == ("reply", "meeting_request")
    assert row["parent_message_id"] == world.sent[0][0]
    assert await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", lead_id) == (
        "replied"
    )
    # Started again (an operator's start, a second activation): the same workflow, woken.
    await start_inbox(temporal_client, world.tenant_id, world.mailbox_id)
    inbox_handle = temporal_client.get_workflow_handle_for(
        MailboxInboxWorkflow.run, mailbox_inbox_workflow_id(world.tenant_id, world.mailbox_id)
    )
    await admin_conn.execute(
        "UPDATE email_accounts SET deleted = now() WHERE id = $1", world.mailbox_id
    )
    await inbox_handle.signal(SIGNAL_WAKE)
    done: MailboxInboxOutput = await asyncio.wait_for(inbox_handle.result(), timeout=120)
    assert done.status == "gone" and done.received == 1
