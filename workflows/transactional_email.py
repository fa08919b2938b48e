"""Sending the platform's own e-mail, started by a Temporal Schedule every minute: one
activity takes the due rows of `transactional_emails` (queued beside the facts they tell)
and sends them; a message that failed waits for a later run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.transactional import (
        SEND_TRANSACTIONAL_EMAILS,
        SendDueInput,
        SendDueOutput,
    )


@workflow.defn(name="TransactionalEmailWorkflow")
class TransactionalEmailWorkflow:
    @workflow.run
    async def run(self, data: SendDueInput) -> SendDueOutput:
        result: SendDueOutput = await workflow.execute_activity(
            SEND_TRANSACTIONAL_EMAILS,
            data,
            result_type=SendDueOutput,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=1),
            # Failures of one message are recorded on its row; this retries the run itself
            # (the database or the secret store unreachable).
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3),
        )
        return result
