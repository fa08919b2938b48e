"""Tenant provisioning: everything a new tenant needs before its first request."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.tenancy import (
        PROVISION_TENANT,
        ProvisionTenantInput,
        ProvisionTenantOutput,
    )


@workflow.defn(name="TenantProvisioningWorkflow")
class TenantProvisioningWorkflow:
    def __init__(self) -> None:
        self._status = "provisioning"

    @workflow.run
    async def run(self, data: ProvisionTenantInput) -> ProvisionTenantOutput:
        result: ProvisionTenantOutput = await workflow.execute_activity(
            PROVISION_TENANT,
            data,
            result_type=ProvisionTenantOutput,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                maximum_interval=timedelta(seconds=30),
                non_retryable_error_types=["TenantNotFound"],
            ),
        )
        self._status = "provisioned"
        return result

    @workflow.query
    def get_status(self) -> str:
        return self._status
