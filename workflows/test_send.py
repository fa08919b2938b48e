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
    from activities.interfaces.delivery import DELIVER_STEP, DeliverInput, DeliverOutput
    from workflows.names import TaskQueue


@dataclass(frozen=True)
class TestSendInput:
    tenant_id: str
    campaign_id: str
    lead_id: str | None  # None: sample data instead of a lead's
    step_id: str
    to: str
    test_key: str  # makes the message's Message-ID unique to this request
    sending_queue: str = TaskQueue.SENDING.value


@workflow.defn(name="TestSendWorkflow")
class TestSendWorkflow:
    @workflow.run
    async def run(self, data: TestSendInput) -> DeliverOutput:
        out: DeliverOutput = await workflow.execute_activity(
            DELIVER_STEP,
            DeliverInput(
                data.tenant_id,
                data.campaign_id,
                data.lead_id or "",
                data.step_id,
                test_to=data.to,
                test_key=data.test_key,
            ),
            result_type=DeliverOutput,
            task_queue=data.sending_queue,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=1),
            summary="test send",
        )
        return out
