"""A mailbox's inbox: one workflow per mailbox on the `inbound` queue, id
`mailbox-inbox:{tenant}:{mailbox}`, forever (continue-as-new).

Each round one activity polls IMAP from the checkpoint kept in Postgres (UIDVALIDITY and
last UID), records what arrived, and returns the facts for the lead workflows, which this
workflow signals (a workflow that has ended is not an error: the rows already say it). With
more messages waiting it polls again at once; otherwise it sleeps `poll_seconds`, or
`inactive_seconds` while the mailbox is not active (a `wake` signal, sent when the mailbox
becomes active, cuts either sleep short). A deleted mailbox ends it.

Started with signal-with-start (`wake`) by the mailbox test that finds the mailbox active,
and by `penguinmails operator inbox start` for existing mailboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.campaigns import LeadSignal
    from activities.interfaces.inbound import (
        DEFAULT_MAX_MESSAGE_BYTES,
        MAILBOX_ACTIVE,
        MAILBOX_GONE,
        POLL_MAILBOX_INBOX,
        SIGNAL_WAKE,
        LeadFactOut,
        PollInboxInput,
        PollInboxOutput,
    )
    from workflows.names import lead_sequence_workflow_id

# A poll: IMAP plus a database transaction per message; heartbeats per message.
POLL_TIMEOUT = timedelta(minutes=10)
POLL_HEARTBEAT = timedelta(minutes=2)
POLL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


@dataclass(frozen=True)
class MailboxInboxInput:
    tenant_id: str
    email_account_id: str
    poll_seconds: int = 60
    inactive_seconds: int = 900
    max_messages: int = 100
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_rounds: int = 1000  # continue-as-new after this many polls at the latest
    rounds_done: int = 0  # carried over a continue-as-new, for the state query
    received_total: int = 0


@dataclass(frozen=True)
class MailboxInboxOutput:
    status: str  # "gone" (the mailbox was deleted)
    rounds: int
    received: int


@dataclass(frozen=True)
class InboxState:
    mailbox: str = "starting"  # the last poll's MAILBOX_* answer
    rounds: int = 0
    received: int = 0  # new inbound rows recorded
    signalled: int = 0  # lead-workflow signals delivered in this run
    note: str = ""


@workflow.defn(name="MailboxInboxWorkflow")
class MailboxInboxWorkflow:
    def __init__(self) -> None:
        self._wake = False
        self._state = InboxState()

    @workflow.signal(name=SIGNAL_WAKE)
    def wake(self) -> None:
        self._wake = True

    @workflow.query
    def get_state(self) -> InboxState:
        return self._state

    @workflow.run
    async def run(self, data: MailboxInboxInput) -> MailboxInboxOutput:
        self._state = InboxState(rounds=data.rounds_done, received=data.received_total)
        rounds_here = 0
        while True:
            self._wake = False
            out: PollInboxOutput = await workflow.execute_activity(
                POLL_MAILBOX_INBOX,
                PollInboxInput(
                    data.tenant_id,
                    data.email_account_id,
                    max_messages=data.max_messages,
                    max_message_bytes=data.max_message_bytes,
                ),
                result_type=PollInboxOutput,
                start_to_close_timeout=POLL_TIMEOUT,
                heartbeat_timeout=POLL_HEARTBEAT,
                retry_policy=POLL_RETRY,
                summary="poll IMAP",
            )
            rounds_here += 1
            signalled = await self._signal(data.tenant_id, out.facts)
            self._state = replace(
                self._state,
                mailbox=out.mailbox,
                rounds=self._state.rounds + 1,
                received=self._state.received + out.recorded,
                signalled=self._state.signalled + signalled,
                note=out.note,
            )
            if out.mailbox == MAILBOX_GONE:
                return MailboxInboxOutput("gone", self._state.rounds, self._state.received)
            if rounds_here >= data.max_rounds or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    replace(
                        data,
                        rounds_done=self._state.rounds,
                        received_total=self._state.received,
                    )
                )
            if out.more and out.mailbox == MAILBOX_ACTIVE:
                continue
            pause = data.poll_seconds if out.mailbox == MAILBOX_ACTIVE else data.inactive_seconds
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake,
                    timeout=timedelta(seconds=pause),
                    timeout_summary=f"next poll ({out.mailbox})",
                )

    async def _signal(self, tenant_id: str, facts: list[LeadFactOut]) -> int:
        """Each fact to each campaign's lead workflow, together; how many were delivered."""

        async def one(fact: LeadFactOut, campaign_id: str) -> int:
            handle = workflow.get_external_workflow_handle(
                lead_sequence_workflow_id(tenant_id, campaign_id, fact.lead_id)
            )
            try:
                await handle.signal(fact.signal, LeadSignal(tenant_id, fact.detail))
            except FailureError:  # not running: its rows already say what the signal would
                return 0
            return 1

        sent = await asyncio.gather(
            *(one(fact, campaign) for fact in facts for campaign in fact.campaign_ids)
        )
        return sum(sent)
