"""VPS lifecycle, one workflow per `vps_instances` row, for months:

provision -> wait until active (status polled with backoff) -> register its IPs
(`available`, PTR and HELO name) -> one billing period after another -> on
`schedule_decommission`, cancel at the provider at the end of the paid period and, when it
comes, move the domains off its IPs -> release -> `decommissioned`.

A failure anywhere in provisioning compensates (a saga): the server is cancelled at once
and whatever was registered is released; the row says `failed` with the provider's words.
Each billing period ends in continue-as-new, so a server of many months keeps a history of
one period.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.vps import (
        CHECK_VPS,
        MOVE_VPS_DOMAINS,
        PROVISION_VPS,
        REGISTER_VPS_IPS,
        RELEASE_VPS,
        SCHEDULE_VPS_DECOMMISSION,
        START_BILLING_PERIOD,
        BillingPeriodInput,
        BillingPeriodOutput,
        CheckVpsOutput,
        MoveVpsDomainsOutput,
        ProvisionVpsOutput,
        RegisterVpsIpsOutput,
        ReleaseVpsInput,
        ScheduleDecommissionInput,
        VpsRef,
    )

# Provider calls: outages retried with backoff for a while, then the saga compensates.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
)
# Cleanup must happen: retried until it does.
CLEANUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=30)
)


@dataclass
class VpsLifecycleState:
    phase: str = "provisioning"  # active, scheduled_decommission, decommissioned, failed
    instance_id: str | None = None
    ips: list[str] = field(default_factory=list)
    period_start: str | None = None
    period_end: str | None = None
    decommission_requested: bool = False
    decommission_at: str | None = None
    periods: int = 0  # billing periods lived through (across continue-as-new)
    status_checks: int = 0
    moved_domains: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class VpsLifecycleInput:
    tenant_id: str
    vps_id: str
    poll_initial_seconds: int = 5
    poll_max_seconds: int = 300
    active_deadline_seconds: int = 2 * 3600
    state: VpsLifecycleState | None = None  # carried over by continue-as-new


@workflow.defn(name="VpsLifecycleWorkflow")
class VpsLifecycleWorkflow:
    # The carried-over state at construction: a `schedule_decommission` signal in the first
    # activation of a continued run lands on it instead of on a blank state.
    @workflow.init
    def __init__(self, data: VpsLifecycleInput) -> None:
        self._state = data.state or VpsLifecycleState()

    @workflow.run
    async def run(self, data: VpsLifecycleInput) -> VpsLifecycleState:
        s = self._state
        ref = VpsRef(data.tenant_id, data.vps_id)
        if s.phase == "provisioning":
            try:
                await self._provision(data, ref)
            except (ActivityError, ApplicationError) as err:
                s.error = _reason(err)
                await self._release(ref, failed=True)
                s.phase = "failed"
                return s
            s.phase = "active"  # a decommission asked meanwhile is scheduled below

        period: BillingPeriodOutput = await workflow.execute_activity(
            START_BILLING_PERIOD,
            BillingPeriodInput(data.tenant_id, data.vps_id, workflow.now().isoformat()),
            result_type=BillingPeriodOutput,
            start_to_close_timeout=timedelta(minutes=1),
        )
        s.period_start, s.period_end = period.start, period.end
        end = datetime.fromisoformat(period.end)
        while True:
            if s.decommission_requested and s.decommission_at is None:
                await workflow.execute_activity(
                    SCHEDULE_VPS_DECOMMISSION,
                    ScheduleDecommissionInput(data.tenant_id, data.vps_id, period.end),
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=CLEANUP_RETRY,
                )
                s.decommission_at, s.phase = period.end, "scheduled_decommission"
            remaining = end - workflow.now()
            if remaining <= timedelta(0):
                break
            try:
                await workflow.wait_condition(
                    lambda: s.decommission_requested and s.decommission_at is None,
                    timeout=remaining,
                )
            except TimeoutError:
                break
        s.periods += 1

        if s.phase == "scheduled_decommission":
            moved: MoveVpsDomainsOutput = await workflow.execute_activity(
                MOVE_VPS_DOMAINS,
                ref,
                result_type=MoveVpsDomainsOutput,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=CLEANUP_RETRY,
            )
            s.moved_domains = [m.domain for m in moved.moved]
            await self._release(ref, failed=False)
            s.phase = "decommissioned"
            return s

        # The next period starts in a fresh run: the history holds one period at most.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(replace(data, state=s))

    async def _provision(self, data: VpsLifecycleInput, ref: VpsRef) -> None:
        s = self._state
        made: ProvisionVpsOutput = await workflow.execute_activity(
            PROVISION_VPS,
            ref,
            result_type=ProvisionVpsOutput,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
        )
        s.instance_id = made.instance_id
        deadline = workflow.now() + timedelta(seconds=data.active_deadline_seconds)
        interval = timedelta(seconds=data.poll_initial_seconds)
        while True:
            checked: CheckVpsOutput = await workflow.execute_activity(
                CHECK_VPS,
                ref,
                result_type=CheckVpsOutput,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=PROVIDER_RETRY,
            )
            s.status_checks += 1
            if checked.status == "active":
                break
            if checked.status == "gone":
                raise ApplicationError("the provider reports the server gone")
            if workflow.now() >= deadline:
                raise ApplicationError("the server did not become active in time")
            await workflow.sleep(
                min(interval, max(deadline - workflow.now(), timedelta(seconds=1)))
            )
            interval = min(interval * 2, timedelta(seconds=data.poll_max_seconds))
        registered: RegisterVpsIpsOutput = await workflow.execute_activity(
            REGISTER_VPS_IPS,
            BillingPeriodInput(ref.tenant_id, ref.vps_id, workflow.now().isoformat()),
            result_type=RegisterVpsIpsOutput,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
        )
        s.ips = registered.ips

    async def _release(self, ref: VpsRef, *, failed: bool) -> None:
        await workflow.execute_activity(
            RELEASE_VPS,
            ReleaseVpsInput(ref.tenant_id, ref.vps_id, failed=failed, error=self._state.error),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=CLEANUP_RETRY,
        )

    @workflow.signal
    def schedule_decommission(self) -> None:
        """Decommission at the end of the paid period; a second call changes nothing."""
        self._state.decommission_requested = True

    @workflow.query
    def get_state(self) -> VpsLifecycleState:
        return self._state


def _reason(err: BaseException) -> str:
    """The innermost message: the provider's words rather than "activity task failed"."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
