"""Mailbox login test: one activity on the `sending` queue (where SMTP and IMAP clients
run), started by `POST /v1/email-accounts/{id}/test`, which waits for its answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.mailboxes import (
        TEST_MAILBOX_LOGIN,
        TestMailboxInput,
        TestMailboxOutput,
    )


@dataclass(frozen=True)
class MailboxTestInput:
    tenant_id: str
    email_account_id: str
    task_queue: str = "sending"


@workflow.defn(name="MailboxTestWorkflow")
class MailboxTestWorkflow:
    @workflow.run
    async def run(self, data: MailboxTestInput) -> TestMailboxOutput:
        result: TestMailboxOutput = await workflow.execute_activity(
            TEST_MAILBOX_LOGIN,
            TestMailboxInput(data.tenant_id, data.email_account_id),
            result_type=TestMailboxOutput,
            task_queue=data.task_queue,
            # Each login has its own timeouts; this bounds the whole test.
            start_to_close_timeout=timedelta(seconds=90),
            schedule_to_close_timeout=timedelta(minutes=3),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result
