"""A test send: `deliver_step` once, to an address the tenant gives, on the `sending` queue.

A workflow (not a call from the API) because the API never talks SMTP itself; it is short
and started and awaited by the request. The activity is not retried: a test send that fails
answers the failure to the person who asked, who can simply ask again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.delivery import (
        DELIVER_STEP,
        INTERACTIVE_HOST_START,
        MAX_HOST_HOPS,
        OUTCOME_DEFERRED,
        REASON_OTHER_HOST,
        DeliverInput,
        DeliverOutput,
    )
    from workflows.names import TaskQueue, vps_sending_queue


@dataclass(frozen=True)
class TestSendInput:
    tenant_id: str
    campaign_id: str
    lead_id: str | None  # None: sample data instead of a lead's
    step_id: str
    to: str
    test_key: str  # makes the message's Message-ID unique to this request
    sending_queue: str = TaskQueue.SENDING.value
    # How long the call waits for the worker of the server holding the mailbox's IP, when
    # routed there: someone waits on this answer, so less than a lead's HOST_START_TIMEOUT.
    host_start_seconds: float = INTERACTIVE_HOST_START.total_seconds()


@workflow.defn(name="TestSendWorkflow")
class TestSendWorkflow:
    @workflow.run
    async def run(self, data: TestSendInput) -> DeliverOutput:
        # A mailbox whose domain sends from a server's IP is sent from that server's own
        # queue: the activity answers `other_host` (nothing reserved) and names it.
        queue, mailbox = data.sending_queue, None
        for _ in range(MAX_HOST_HOPS + 1):
            out: DeliverOutput = await workflow.execute_activity(
                DELIVER_STEP,
                DeliverInput(
                    data.tenant_id,
                    data.campaign_id,
                    data.lead_id or "",
                    data.step_id,
                    mailbox_id=mailbox,
                    test_to=data.to,
                    test_key=data.test_key,
                ),
                result_type=DeliverOutput,
                task_queue=queue,
                schedule_to_start_timeout=(
                    timedelta(seconds=data.host_start_seconds)
                    if queue != data.sending_queue
                    else None
                ),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary="test send",
            )
            if out.outcome != OUTCOME_DEFERRED or out.reason != REASON_OTHER_HOST:
                break
            queue = vps_sending_queue(out.host_vps_id) if out.host_vps_id else data.sending_queue
            mailbox = out.mailbox_id
        return out
