"""Domain verification: checks a domain's expected DNS records with backoff until they all
pass (`verified`) or the deadline passes (`failed`, after one last check at the deadline).

A `check_now` signal (POST /v1/domains/{id}/verify while it runs) checks at once and
restarts the backoff; the API starts a new run once this one has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.domains import (
        CHECK_DOMAIN_DNS,
        CheckDomainDnsInput,
        CheckDomainDnsOutput,
    )


@dataclass(frozen=True)
class DomainVerificationInput:
    tenant_id: str
    domain_id: str
    deadline_seconds: int = 72 * 3600
    initial_interval_seconds: int = 30
    max_interval_seconds: int = 3600


@dataclass
class DomainVerificationState:
    status: str = "verifying"
    checks: int = 0


@workflow.defn(name="DomainVerificationWorkflow")
class DomainVerificationWorkflow:
    def __init__(self) -> None:
        self._state = DomainVerificationState()
        self._check_now = False

    @workflow.run
    async def run(self, data: DomainVerificationInput) -> str:
        deadline = workflow.now() + timedelta(seconds=data.deadline_seconds)
        interval = timedelta(seconds=data.initial_interval_seconds)
        while True:
            final = workflow.now() >= deadline
            self._check_now = False  # a signal during the check asks for another one
            result: CheckDomainDnsOutput = await workflow.execute_activity(
                CHECK_DOMAIN_DNS,
                CheckDomainDnsInput(data.tenant_id, data.domain_id, final=final),
                result_type=CheckDomainDnsOutput,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            self._state.checks += 1
            self._state.status = result.status
            if result.done or final:
                return result.status
            remaining = deadline - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: self._check_now,
                    timeout=max(min(interval, remaining), timedelta(seconds=1)),
                )
                interval = timedelta(seconds=data.initial_interval_seconds)
            except TimeoutError:
                interval = min(interval * 2, timedelta(seconds=data.max_interval_seconds))

    @workflow.signal
    def check_now(self) -> None:
        self._check_now = True

    @workflow.query
    def get_state(self) -> DomainVerificationState:
        return self._state
