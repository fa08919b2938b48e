"""An answer from the reply inbox: the built message (already in the content store and in
the outbox as `reserved`) sent by `send_message` on the `sending` queue, from the mailbox
that received the reply. Started and awaited by `POST /v1/inbox/{id}/reply`; a 4xx is
retried a few times, a 5xx or a refused login fails at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.delivery import INTERACTIVE_HOST_START, MAX_HOST_HOPS
    from activities.interfaces.sending import (
        SEND_MESSAGE,
        SendMessageInput,
        SendMessageOutput,
    )
    from workflows.names import TaskQueue, vps_sending_queue


@dataclass(frozen=True)
class InboxReplyInput:
    tenant_id: str
    email_account_id: str
    content_storage_key: str
    sending_queue: str = TaskQueue.SENDING.value
    # How long the call waits for the worker of the server holding the mailbox's IP, when
    # routed there: someone waits on this answer, so less than a lead's HOST_START_TIMEOUT.
    host_start_seconds: float = INTERACTIVE_HOST_START.total_seconds()


@workflow.defn(name="InboxReplyWorkflow")
class InboxReplyWorkflow:
    @workflow.run
    async def run(self, data: InboxReplyInput) -> SendMessageOutput:
        # A mailbox on a platform IP is sent from its server's own queue (`other_host`).
        queue = data.sending_queue
        for _ in range(MAX_HOST_HOPS + 1):
            out: SendMessageOutput = await workflow.execute_activity(
                SEND_MESSAGE,
                SendMessageInput(data.tenant_id, data.email_account_id, data.content_storage_key),
                result_type=SendMessageOutput,
                task_queue=queue,
                schedule_to_start_timeout=(
                    timedelta(seconds=data.host_start_seconds)
                    if queue != data.sending_queue
                    else None
                ),
                start_to_close_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary="send the answer",
            )
            if not out.other_host:
                break
            queue = vps_sending_queue(out.host_vps_id) if out.host_vps_id else data.sending_queue
        return out
