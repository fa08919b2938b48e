"""Billing activities: Stripe through `StripeGateway`, and the tenant's subscription mirror,
payments and stored events in Postgres. Each is idempotent (a retry reads or writes the
same thing)."""

from __future__ import annotations

import datetime as dt
import time
from uuid import UUID

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.interfaces.billing import (
    CHANGE_STRIPE_PLAN,
    FETCH_SUBSCRIPTION,
    HAND_OVER_STRIPE_EVENTS,
    INVOICE_EVENTS,
    MIRROR_SUBSCRIPTION,
    NOTIFY_DUNNING,
    READ_STRIPE_EVENT,
    RECORD_PAYMENT,
    SEED_SUBSCRIPTION,
    SET_BILLING_PAUSE,
    SET_CANCEL_AT_PERIOD_END,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTION_WORKFLOW,
    BillingPauseInput,
    BillingPauseOutput,
    ChangePlanInput,
    ChangePlanOutput,
    DunningNoticeInput,
    EventFacts,
    FetchSubscriptionInput,
    HandOverInput,
    HandOverOutput,
    MirrorInput,
    ReadEventInput,
    RecordPaymentInput,
    SeedOutput,
    SetCancelInput,
    SubscriptionSnapshot,
    TenantInput,
    invoice_of,
    snapshot_of,
)
from activities.interfaces.search import tenant_search_attributes
from activities.stripe_gateway import StripeGateway, StripePlan
from penguinmails.campaign_pauses import apply_pause_reason
from penguinmails.db import Database
from penguinmails.platform_config import PlatformConfig
from penguinmails.repositories.payments import InvoicePayment, PaymentRepository
from penguinmails.repositories.plans import PlanRepository
from penguinmails.repositories.stripe_events import StripeEventRepository
from penguinmails.repositories.subscriptions import Mirror, SubscriptionRepository
from penguinmails.repositories.transactional_emails import TransactionalEmailRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.sysconfig import GRACE_DAYS


def _ts(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


class BillingActivities:
    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        settings: Settings,
        gateway: StripeGateway | None = None,
        client: Client | None = None,
        platform: PlatformConfig | None = None,
    ) -> None:
        self._client = client
        self.platform = platform or PlatformConfig(db, settings)
        self.db = db
        self.secrets = secrets
        self.settings = settings
        self._gateway = gateway

    async def gateway(self) -> StripeGateway:
        """The Stripe client, its key read from Vault on first use."""
        if self._gateway is None:
            if self.secrets is None:
                raise ApplicationError("no secret store: the Stripe key lives in Vault")
            record = await self.secrets.read(self.settings.stripe_secret_path)
            if not record or not record.get("api_key"):
                raise ApplicationError(
                    f"no Stripe api_key in Vault at {self.settings.stripe_secret_path}"
                )
            self._gateway = StripeGateway(
                record["api_key"],
                self.settings.stripe_api_base,
                self.settings.stripe_mode,
                return_url=f"{self.settings.public_base_url.rstrip('/')}/billing",
            )
        return self._gateway

    async def _with_plan(self, tenant: UUID, snap: SubscriptionSnapshot) -> SubscriptionSnapshot:
        if snap.stripe_plan is None:
            return snap
        async with self.db.tenant_session(tenant) as session:
            plan = await PlanRepository(session).by_stripe_id(snap.stripe_plan)
        if plan is None:
            return snap
        return SubscriptionSnapshot(
            snap.stripe_subscription_id,
            snap.status,
            snap.stripe_plan,
            str(plan.id),
            snap.current_period_end,
            snap.cancel_at_period_end,
        )

    @activity.defn(name=SEED_SUBSCRIPTION)
    async def seed_subscription(self, data: TenantInput) -> SeedOutput:
        """What Stripe holds now for the tenant (a new run starts from it)."""
        tenant = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant) as session:
            current = await SubscriptionRepository(session).current(tenant)
        observed = int(time.time())
        if current is None or current.stripe_customer_id is None:
            return SeedOutput(observed)
        gateway = await self.gateway()
        snap = None
        if current.stripe_subscription_id:
            snap = await gateway.retrieve(current.stripe_subscription_id)
        if snap is None:
            snap = await gateway.latest_of_customer(current.stripe_customer_id)
        return SeedOutput(observed, None if snap is None else await self._with_plan(tenant, snap))

    @activity.defn(name=FETCH_SUBSCRIPTION)
    async def fetch_subscription(self, data: FetchSubscriptionInput) -> SeedOutput:
        observed = int(time.time())
        snap = await (await self.gateway()).retrieve(data.stripe_subscription_id)
        tenant = UUID(data.tenant_id)
        return SeedOutput(observed, None if snap is None else await self._with_plan(tenant, snap))

    @activity.defn(name=READ_STRIPE_EVENT)
    async def read_stripe_event(self, data: ReadEventInput) -> EventFacts:
        async with self.db.admin_session() as session:
            stored = await StripeEventRepository(session).get(data.event_id)
        if stored is None or str(stored.tenant_id) != data.tenant_id:
            return EventFacts(data.event_id, "", 0, found=False)
        obj = (stored.payload.get("data") or {}).get("object") or {}
        facts = EventFacts(stored.id, stored.type, stored.stripe_created)
        if stored.type in SUBSCRIPTION_EVENTS and obj.get("object") == "subscription":
            snap = await self._with_plan(UUID(data.tenant_id), snapshot_of(obj))
            return EventFacts(stored.id, stored.type, stored.stripe_created, subscription=snap)
        if stored.type in INVOICE_EVENTS and obj.get("object") == "invoice":
            invoice = invoice_of(obj, stored.type)
            return EventFacts(stored.id, stored.type, stored.stripe_created, invoice=invoice)
        return facts

    @activity.defn(name=RECORD_PAYMENT)
    async def record_payment(self, data: RecordPaymentInput) -> None:
        inv = data.invoice
        payment = InvoicePayment(
            invoice_id=inv.invoice_id,
            amount_cents=inv.amount_cents,
            currency=inv.currency,
            status=inv.status,
            paid=_ts(inv.paid_at),
            stripe_created=0,
        )
        tenant = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant) as session:
            payments = PaymentRepository(session)
            await payments.record(tenant, payment)
            # The e-mail beside the payment, once per invoice and outcome; a failure that
            # arrives after the success (Stripe does not keep order) tells nobody.
            kind = {"succeeded": "invoice_paid", "failed": "payment_failed"}.get(inv.status)
            if kind is not None and await payments.status_of(inv.invoice_id) == inv.status:
                await TransactionalEmailRepository(session).queue(
                    tenant,
                    kind,
                    f"invoice:{inv.invoice_id}:{inv.status}",
                    {
                        "invoice_id": inv.invoice_id,
                        "amount": f"{inv.amount_cents / 100:.2f}",
                        "currency": inv.currency.upper(),
                    },
                    await SubscriptionRepository(session).billing_email(),
                )
        async with self.db.admin_session() as session:
            await StripeEventRepository(session).mark_applied(data.event_id)

    @activity.defn(name=MIRROR_SUBSCRIPTION)
    async def mirror_subscription(self, data: MirrorInput) -> None:
        tenant = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant) as session:
            repo = SubscriptionRepository(session)
            current = await repo.current(tenant)
            if current is None:
                return
            await repo.mirror(
                tenant,
                Mirror(
                    plan_id=UUID(data.plan_id) if data.plan_id else current.plan_id,
                    status=data.status,
                    stripe_subscription_id=data.stripe_subscription_id,
                    current_period_end=_ts(data.current_period_end),
                    cancel_at_period_end=data.cancel_at_period_end,
                    stripe_as_of=data.stripe_as_of,
                    grace_ends=_ts(data.grace_ends),
                ),
            )
        if data.applied_event_ids:
            async with self.db.admin_session() as session:
                events = StripeEventRepository(session)
                for event_id in data.applied_event_ids:
                    await events.mark_applied(event_id)

    @activity.defn(name=CHANGE_STRIPE_PLAN)
    async def change_stripe_plan(self, data: ChangePlanInput) -> ChangePlanOutput:
        """Subscribe, upgrade or downgrade in Stripe. The customer is stored before the
        subscription is made, so the webhooks that follow find their tenant."""
        tenant = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant) as session:
            plan = await PlanRepository(session).get(UUID(data.plan_id))
            subs = SubscriptionRepository(session)
            current = await subs.current(tenant)
            email = await subs.billing_email()
        if plan is None or plan.stripe_price_id is None:
            raise ApplicationError("the plan has no Stripe price", non_retryable=True)
        gateway = await self.gateway()
        await gateway.ensure_plan(
            StripePlan(
                plan.stripe_price_id,
                plan.plan_name,
                int(plan.price * 100),
                plan.currency,
                "year" if plan.billing_cycle == "yearly" else "month",
            )
        )
        existing = current.stripe_customer_id if current else None
        customer = await gateway.ensure_customer(existing, data.tenant_id, email or "")
        if customer != existing:
            async with self.db.tenant_session(tenant) as session:
                await SubscriptionRepository(session).set_customer(tenant, customer)
        sub_id = data.stripe_subscription_id
        if sub_id is not None:
            live = await gateway.retrieve(sub_id)
            if live is None or live.status in ("canceled", "incomplete_expired"):
                sub_id = None
        if sub_id is None:
            done = await gateway.subscribe(customer, plan.stripe_price_id, data.tenant_id)
        else:
            done = await gateway.change_plan(sub_id, plan.stripe_price_id)
        snap = (
            None if done.subscription is None else await self._with_plan(tenant, done.subscription)
        )
        return ChangePlanOutput(done.observed, snap, done.checkout_url)

    @activity.defn(name=SET_CANCEL_AT_PERIOD_END)
    async def set_cancel_at_period_end(self, data: SetCancelInput) -> ChangePlanOutput:
        gateway = await self.gateway()
        done = await gateway.set_cancel_at_period_end(
            data.stripe_subscription_id, data.cancel_at_period_end
        )
        assert done.subscription is not None
        snap = await self._with_plan(UUID(data.tenant_id), done.subscription)
        return ChangePlanOutput(done.observed, snap)

    @activity.defn(name=NOTIFY_DUNNING)
    async def notify_dunning(self, data: DunningNoticeInput) -> None:
        """Day 0, 3 or 6 of a grace period: an in-app notice and an e-mail (once per day of
        this period)."""
        ends = _ts(data.grace_ends)
        assert ends is not None
        when = ends.strftime("%Y-%m-%d %H:%M UTC")
        tenant = UUID(data.tenant_id)
        key = f"billing.past_due.{int(data.grace_ends)}.day{data.day}"
        async with self.db.tenant_session(tenant) as session:
            subscriptions = SubscriptionRepository(session)
            await subscriptions.notify(
                key,
                "Payment failed",
                f"We could not collect your payment. Update your payment method before {when} "
                "or your campaigns will pause.",
                "warning" if data.day == 0 else "error",
            )
            # And the same notice by e-mail, in the same transaction (once per day).
            await TransactionalEmailRepository(session).queue(
                tenant,
                "dunning_notice",
                key,
                {"day": data.day, "grace_ends": when},
                await subscriptions.billing_email(),
            )

    @activity.defn(name=SET_BILLING_PAUSE)
    async def set_billing_pause(self, data: BillingPauseInput) -> BillingPauseOutput:
        """Pause every campaign that can send with the reason `billing`, or lift that reason
        (and only it): through each campaign's workflow, as a user's pause goes."""
        tenant = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant) as session:
            repo = SubscriptionRepository(session)
            if data.paused:
                campaigns = await repo.campaigns_to_pause("billing")
            else:
                campaigns = await repo.campaigns_paused_for("billing")
        client = self._client or activity.client()
        done = await apply_pause_reason(
            client, data.campaign_workflow_prefix, tenant, campaigns, "billing", data.paused
        )
        return BillingPauseOutput(done)

    @activity.defn(name=HAND_OVER_STRIPE_EVENTS)
    async def hand_over_stripe_events(self, data: HandOverInput) -> HandOverOutput:
        """The sweeper: signal-with-start each tenant's subscription workflow with the id of
        every stored event never handed over (oldest first), then mark it handed over. The
        grace period a new run starts with is `billing.grace_days` (system configuration)."""
        async with self.db.admin_session() as session:
            pending = await StripeEventRepository(session).unhanded(data.limit)
        if not pending:
            return HandOverOutput(0)
        grace_days = await self.platform.value(GRACE_DAYS)
        client = self._client or activity.client()
        for event in pending:
            tenant = str(event.tenant_id)
            await client.start_workflow(
                SUBSCRIPTION_WORKFLOW,
                # The workflow's SubscriptionInput and StripeEventSignal, by their fields.
                {"tenant_id": tenant, "grace_days": grace_days},
                id=f"{data.workflow_kind}:{tenant}:{tenant}",
                task_queue=data.task_queue,
                search_attributes=tenant_search_attributes(tenant),
                start_signal="stripe_event",
                start_signal_args=[{"event_id": event.id}],
            )
            async with self.db.admin_session() as session:
                await StripeEventRepository(session).mark_handed_off(event.id)
        return HandOverOutput(len(pending))
