"""SubscriptionWorkflow: one per tenant, the tenant's Stripe subscription as Stripe says it.

- A new run (not a continue-as-new) seeds its state from Stripe before applying anything.
- Webhook events arrive as their stored **id** (`stripe_event` signal, sent with start by
  the webhook route). Stripe delivers at least once and in any order: an invoice event
  writes its `payments` row whatever its order (an upsert by invoice); a subscription
  event is applied only when newer (`created`) than the state held; at the same second
  the order cannot be told, so the subscription is fetched from Stripe instead.
- Updates change the plan (subscribe, upgrade, downgrade) and set or clear cancel at
  period end; each answers with the state after the change.
- Dunning: `past_due` starts a grace period (`grace_days`, a timer of this workflow) with
  notices on day 0, 3 and 6; at its end every campaign of the tenant pauses with the
  reason `billing`; `active` (or `trialing`) again lifts that reason and nothing else.
- After every change the tenant's `subscriptions` row mirrors the state.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.billing import (
        CHANGE_STRIPE_PLAN,
        FETCH_SUBSCRIPTION,
        MIRROR_SUBSCRIPTION,
        NOTIFY_DUNNING,
        QUERY_STATE,
        READ_STRIPE_EVENT,
        RECORD_PAYMENT,
        SEED_SUBSCRIPTION,
        SET_BILLING_PAUSE,
        SET_CANCEL_AT_PERIOD_END,
        SIGNAL_STRIPE_EVENT,
        UPDATE_CHANGE_PLAN,
        UPDATE_SET_CANCEL,
        BillingPauseInput,
        BillingPauseOutput,
        ChangePlanInput,
        ChangePlanOutput,
        DunningNoticeInput,
        EventFacts,
        FetchSubscriptionInput,
        MirrorInput,
        ReadEventInput,
        RecordPaymentInput,
        SeedOutput,
        SetCancelInput,
        SubscriptionSnapshot,
        TenantInput,
    )
    from workflows.names import campaign_workflow_id

NOTICE_DAYS = (0, 3, 6)
# Event ids remembered against duplicates (older ones are caught by the ordering rule).
RECENT_EVENTS = 500
HEALTHY = ("active", "trialing")


@dataclass
class SubscriptionState:
    seeded: bool = False
    status: str | None = None  # None: no Stripe subscription (the trial row stays as it is)
    plan_id: str | None = None
    stripe_subscription_id: str | None = None
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    as_of: int = 0  # Stripe's time (epoch seconds) of the state held
    grace_started: float | None = None  # epoch seconds
    grace_ends: float | None = None
    notices_sent: list[int] = field(default_factory=list)
    billing_paused: bool = False
    recent_events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubscriptionInput:
    tenant_id: str
    grace_days: int = 7
    state: SubscriptionState | None = None  # carried over by continue-as-new


@dataclass(frozen=True)
class StripeEventSignal:
    event_id: str


@dataclass(frozen=True)
class ChangePlanRequest:
    plan_id: str


@dataclass(frozen=True)
class CancelRequest:
    cancel_at_period_end: bool


@dataclass(frozen=True)
class SubscriptionView:
    status: str | None
    plan_id: str | None
    stripe_subscription_id: str | None
    current_period_end: int | None
    cancel_at_period_end: bool
    grace_ends: float | None
    billing_paused: bool
    checkout_url: str | None = None


_TIMEOUT = timedelta(seconds=60)
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn(name="SubscriptionWorkflow")
class SubscriptionWorkflow:
    def __init__(self) -> None:
        self._state = SubscriptionState()
        self._pending: list[str] = []
        self._lock = asyncio.Lock()
        self._tenant = ""
        self._grace_days = 7

    # -- messages -------------------------------------------------------------------------------

    @workflow.signal(name=SIGNAL_STRIPE_EVENT)
    def stripe_event(self, signal: StripeEventSignal) -> None:
        if signal.event_id not in self._pending:
            self._pending.append(signal.event_id)

    @workflow.query(name=QUERY_STATE)
    def get_state(self) -> SubscriptionView:
        return self._view()

    @workflow.update(name=UPDATE_CHANGE_PLAN)
    async def change_plan(self, request: ChangePlanRequest) -> SubscriptionView:
        await workflow.wait_condition(lambda: self._state.seeded)
        async with self._lock:
            out: ChangePlanOutput = await workflow.execute_activity(
                CHANGE_STRIPE_PLAN,
                ChangePlanInput(self._tenant, request.plan_id, self._state.stripe_subscription_id),
                result_type=ChangePlanOutput,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if out.subscription is not None:
                await self._apply(out.subscription, max(out.observed, self._state.as_of))
                await self._mirror([])
            return replace(self._view(), checkout_url=out.checkout_url)

    @change_plan.validator
    def _validate_change(self, request: ChangePlanRequest) -> None:
        if not request.plan_id:
            raise ValueError("plan_id is required")

    @workflow.update(name=UPDATE_SET_CANCEL)
    async def set_cancel(self, request: CancelRequest) -> SubscriptionView:
        await workflow.wait_condition(lambda: self._state.seeded)
        async with self._lock:
            if self._state.stripe_subscription_id is None or self._state.status == "canceled":
                raise ApplicationError(
                    "no paid subscription to cancel or resume", type="NoSubscription"
                )
            out: ChangePlanOutput = await workflow.execute_activity(
                SET_CANCEL_AT_PERIOD_END,
                SetCancelInput(
                    self._tenant,
                    self._state.stripe_subscription_id,
                    request.cancel_at_period_end,
                ),
                result_type=ChangePlanOutput,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if out.subscription is not None:
                await self._apply(out.subscription, max(out.observed, self._state.as_of))
                await self._mirror([])
            return self._view()

    # -- the run --------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: SubscriptionInput) -> None:
        self._tenant = data.tenant_id
        self._grace_days = data.grace_days
        if data.state is not None:
            self._state = data.state
        else:
            seed: SeedOutput = await workflow.execute_activity(
                SEED_SUBSCRIPTION,
                TenantInput(self._tenant),
                result_type=SeedOutput,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if seed.subscription is not None:
                await self._apply(seed.subscription, seed.observed)
                await self._mirror([])
            else:
                self._state.as_of = 0
            self._state.seeded = True
        while True:
            timeout = self._until_next_dunning_step()
            with contextlib.suppress(TimeoutError):  # a dunning step is due
                await workflow.wait_condition(lambda: bool(self._pending), timeout=timeout)
            while self._pending:
                event_id = self._pending.pop(0)
                async with self._lock:
                    await self._handle(event_id)
            async with self._lock:
                await self._dunning()
            if workflow.info().is_continue_as_new_suggested() and not self._pending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SubscriptionInput(self._tenant, self._grace_days, self._state)
                )

    async def _handle(self, event_id: str) -> None:
        if event_id in self._state.recent_events:
            return
        facts: EventFacts = await workflow.execute_activity(
            READ_STRIPE_EVENT,
            ReadEventInput(self._tenant, event_id),
            result_type=EventFacts,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        self._remember(event_id)
        if not facts.found:
            return
        if facts.invoice is not None:
            # Payments are rows per invoice: recorded whatever the order.
            await workflow.execute_activity(
                RECORD_PAYMENT,
                RecordPaymentInput(self._tenant, event_id, facts.invoice),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            return
        snap = facts.subscription
        if snap is None:
            return
        if facts.created > self._state.as_of:
            await self._apply(snap, facts.created)
        elif facts.created == self._state.as_of:
            # Same second as the state held: which came first is unknown, so ask Stripe.
            now: SeedOutput = await workflow.execute_activity(
                FETCH_SUBSCRIPTION,
                FetchSubscriptionInput(self._tenant, snap.stripe_subscription_id),
                result_type=SeedOutput,
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
            if now.subscription is not None:
                await self._apply(now.subscription, facts.created)
        await self._mirror([event_id])

    def _remember(self, event_id: str) -> None:
        self._state.recent_events.append(event_id)
        del self._state.recent_events[:-RECENT_EVENTS]

    async def _apply(self, snap: SubscriptionSnapshot, as_of: int) -> None:
        s = self._state
        s.status = snap.status
        s.plan_id = snap.plan_id or s.plan_id
        s.stripe_subscription_id = snap.stripe_subscription_id
        s.current_period_end = snap.current_period_end
        s.cancel_at_period_end = snap.cancel_at_period_end
        s.as_of = as_of
        now = workflow.now().timestamp()
        if snap.status == "past_due" and s.grace_ends is None:
            s.grace_started = now
            s.grace_ends = now + timedelta(days=self._grace_days).total_seconds()
            s.notices_sent = []
        elif snap.status in HEALTHY:
            s.grace_started = s.grace_ends = None
            s.notices_sent = []
            if s.billing_paused:
                await self._billing_pause(False)

    # -- dunning --------------------------------------------------------------------------------

    def _due_steps(self) -> list[float]:
        s = self._state
        if s.grace_started is None or s.grace_ends is None:
            return []
        steps = [
            s.grace_started + timedelta(days=d).total_seconds()
            for d in NOTICE_DAYS
            if d < self._grace_days and d not in s.notices_sent
        ]
        if not s.billing_paused:
            steps.append(s.grace_ends)
        return steps

    def _until_next_dunning_step(self) -> timedelta | None:
        steps = self._due_steps()
        if not steps:
            return None
        return timedelta(seconds=max(min(steps) - workflow.now().timestamp(), 0))

    async def _dunning(self) -> None:
        s = self._state
        if s.grace_started is None or s.grace_ends is None:
            return
        now = workflow.now().timestamp()
        for day in NOTICE_DAYS:
            due = s.grace_started + timedelta(days=day).total_seconds()
            if day < self._grace_days and day not in s.notices_sent and now >= due:
                await workflow.execute_activity(
                    NOTIFY_DUNNING,
                    DunningNoticeInput(self._tenant, day, s.grace_ends),
                    start_to_close_timeout=_TIMEOUT,
                    retry_policy=_RETRY,
                )
                s.notices_sent.append(day)
        if now >= s.grace_ends and not s.billing_paused:
            await self._billing_pause(True)
            await self._mirror([])

    async def _billing_pause(self, paused: bool) -> None:
        await workflow.execute_activity(
            SET_BILLING_PAUSE,
            BillingPauseInput(self._tenant, paused, campaign_workflow_id(self._tenant, "")),
            result_type=BillingPauseOutput,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        self._state.billing_paused = paused

    # -- the mirror -----------------------------------------------------------------------------

    async def _mirror(self, applied: list[str]) -> None:
        s = self._state
        if s.status is None:
            return
        await workflow.execute_activity(
            MIRROR_SUBSCRIPTION,
            MirrorInput(
                tenant_id=self._tenant,
                plan_id=s.plan_id,
                status=s.status,
                stripe_subscription_id=s.stripe_subscription_id,
                current_period_end=s.current_period_end,
                cancel_at_period_end=s.cancel_at_period_end,
                stripe_as_of=s.as_of,
                grace_ends=s.grace_ends,
                applied_event_ids=applied,
            ),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )

    def _view(self) -> SubscriptionView:
        s = self._state
        return SubscriptionView(
            status=s.status,
            plan_id=s.plan_id,
            stripe_subscription_id=s.stripe_subscription_id,
            current_period_end=s.current_period_end,
            cancel_at_period_end=s.cancel_at_period_end,
            grace_ends=s.grace_ends,
            billing_paused=s.billing_paused,
        )


def grace_end_time(view: SubscriptionView) -> datetime | None:
    return None if view.grace_ends is None else datetime.fromtimestamp(view.grace_ends, UTC)
