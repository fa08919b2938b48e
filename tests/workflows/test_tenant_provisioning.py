"""Orchestration in isolation (fake activity under the real name, time-skipping server);
the real activity against Postgres is exercised in tests/activities and tests/api."""

import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.interfaces.tenancy import (
    PROVISION_TENANT,
    ProvisionTenantInput,
    ProvisionTenantOutput,
)
from workflows.tenant_provisioning import TenantProvisioningWorkflow


async def test_retries_until_the_tenant_is_visible(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    calls: list[int] = []

    @activity.defn(name=PROVISION_TENANT)
    async def fake(data: ProvisionTenantInput) -> ProvisionTenantOutput:
        calls.append(activity.info().attempt)
        if len(calls) < 3:
            raise ApplicationError("not yet", type="TenantNotVisible")
        return ProvisionTenantOutput(data.tenant_id, "company-1", True, True)

    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        temporal_time_skipping.client,
        task_queue=queue,
        workflows=[TenantProvisioningWorkflow],
        activities=[fake],
    ):
        result = await temporal_time_skipping.client.execute_workflow(
            TenantProvisioningWorkflow.run,
            ProvisionTenantInput(tenant_id="t-1", owner_user_id="u-1"),
            id=f"tenant-provisioning:t-1:{uuid.uuid4()}",
            task_queue=queue,
        )
    assert result.default_company_id == "company-1"
    assert calls == [1, 2, 3]


async def test_missing_tenant_fails_without_endless_retries(
    temporal_time_skipping: WorkflowEnvironment,
) -> None:
    attempts: list[int] = []

    @activity.defn(name=PROVISION_TENANT)
    async def fake(data: ProvisionTenantInput) -> ProvisionTenantOutput:
        attempts.append(activity.info().attempt)
        raise ApplicationError("tenant does not exist", type="TenantNotFound", non_retryable=True)

    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        temporal_time_skipping.client,
        task_queue=queue,
        workflows=[TenantProvisioningWorkflow],
        activities=[fake],
    ):
        try:
            await temporal_time_skipping.client.execute_workflow(
                TenantProvisioningWorkflow.run,
                ProvisionTenantInput(tenant_id="t-2", owner_user_id="u-2"),
                id=f"tenant-provisioning:t-2:{uuid.uuid4()}",
                task_queue=queue,
                execution_timeout=timedelta(hours=2),
            )
        except WorkflowFailureError as exc:
            assert isinstance(exc.cause, ActivityError)
            assert isinstance(exc.cause.cause, ApplicationError)
            assert exc.cause.cause.type == "TenantNotFound"
            assert attempts == [1]
        else:
            raise AssertionError("the workflow should have failed")
