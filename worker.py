"""Worker process: settings -> client -> activities with their dependencies -> Workers.

One Temporal Worker per task queue it serves (`WORKER_TASK_QUEUES`, default all), so
operators can scale the `sending` queue apart from the rest. Each process also runs one
consumer of the events stream (activities/events.py; `EVENTS_CONSUMER=false` leaves it out).
SIGTERM/SIGINT drain in-flight activities and stop cleanly.

`worker.py --vps-id ID` (or `WORKER_VPS_ID`) is a sending server's own worker: it runs on
the host that holds the server's IPs and serves only the sending activities of its queue
(`vps_sending_queue(ID)`), sending from those IPs; no workflows, no Schedules, no events
consumer. Sends for mailboxes on a server's IPs are routed there (activities/delivery.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.worker import Worker

from activities.analytics import AnalyticsActivities
from activities.billing import BillingActivities
from activities.campaigns import CampaignActivities
from activities.delivery import DeliveryActivities
from activities.domains import DomainActivities
from activities.erasure import ErasureActivities
from activities.events import EventsConsumer
from activities.inbound import InboundActivities
from activities.lead_imports import LeadImportActivities
from activities.mailboxes import MailboxActivities
from activities.providers.local import LocalProvider
from activities.providers.registry import load_providers
from activities.reputation import ReputationActivities
from activities.sending import SendingActivities
from activities.tenancy import TenancyActivities
from activities.transactional import TransactionalActivities
from activities.vps import VpsActivities
from activities.warmup_exchange import WarmupExchangeActivities
from activities.warmups import WarmupActivities
from activities.webhooks import WebhookActivities
from penguinmails.checks import ServiceUnavailable, check_postgres, check_redis, check_temporal
from penguinmails.db import Database
from penguinmails.logging import configure_logging
from penguinmails.providers import VpsProvider
from penguinmails.runtime import secret_store, temporal_client
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings, get_settings
from workflows.analytics_reconcile import AnalyticsReconcileWorkflow, AnalyticsRetentionWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.domain_verification import DomainVerificationWorkflow
from workflows.erasure import ErasureWorkflow
from workflows.inbox_reply import InboxReplyWorkflow
from workflows.ip_reputation import IpReputationWorkflow
from workflows.ip_warmup import IpWarmupWorkflow
from workflows.lead_import import LeadImportWorkflow
from workflows.lead_sequence import LeadSequenceWorkflow
from workflows.mailbox_inbox import MailboxInboxWorkflow
from workflows.mailbox_test import MailboxTestWorkflow
from workflows.mailbox_warmup import MailboxWarmupWorkflow
from workflows.names import (
    ALL_TASK_QUEUES,
    TaskQueue,
    lead_sequence_workflow_id,
    vps_sending_queue,
)
from workflows.schedules import ensure_reputation_schedule, ensure_schedules
from workflows.stripe_sweep import StripeSweepWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.tenant_provisioning import TenantProvisioningWorkflow
from workflows.test_send import TestSendWorkflow
from workflows.transactional_email import TransactionalEmailWorkflow
from workflows.vps_lifecycle import VpsLifecycleWorkflow
from workflows.webhook_endpoint import WebhookEndpointWorkflow

log = logging.getLogger("penguinmails.worker")


def registrations(
    db: Database,
    settings: Settings | None = None,
    secrets: SecretStore | None = None,
    providers: dict[str, VpsProvider] | None = None,
) -> dict[str, tuple[list[type], list[Callable[..., Any]]]]:
    """Workflows and activities of each task queue. Without `providers` (built by
    `load_providers` at start), only the `local` provider is served."""
    settings = settings or get_settings()
    if providers is None:
        providers = {
            "local": LocalProvider(
                settings.local_provider_state,
                activate_after_seconds=settings.local_provider_activate_after_seconds,
            )
        }
    vps = VpsActivities(db, providers, settings.sending_host_domain)
    warmups = WarmupActivities(db)
    exchange = WarmupExchangeActivities(db, secrets, settings)
    reputation = ReputationActivities(db, settings.dns_resolver)
    tenancy = TenancyActivities(db)
    imports = LeadImportActivities(db, settings.dns_resolver, settings.lead_import_load_concurrency)
    erasure = ErasureActivities(db)
    domains = DomainActivities(db, settings.dns_resolver)
    mailboxes = MailboxActivities(db, secrets)
    sending = SendingActivities(db, secrets)
    delivery = DeliveryActivities(db, secrets, settings)
    campaigns = CampaignActivities(db)
    webhooks = WebhookActivities(db, secrets, settings)
    analytics = AnalyticsActivities(db)
    inbound = InboundActivities(db, secrets)
    billing = BillingActivities(db, secrets, settings)
    transactional = TransactionalActivities(db, secrets, settings)
    return {
        TaskQueue.CAMPAIGNS: (
            [CampaignWorkflow, LeadSequenceWorkflow, TestSendWorkflow, InboxReplyWorkflow],
            [
                campaigns.load_lead_sequence,
                campaigns.next_send_slot,
                campaigns.evaluate_condition,
                campaigns.record_lead_progress,
                campaigns.record_lead_ending,
                campaigns.stop_company_leads,
                campaigns.enrollment_window,
                campaigns.claim_enrollments,
                campaigns.set_campaign_status,
                campaigns.pause_campaign,
                campaigns.resume_campaign,
                campaigns.notify_leads_resumed,
                campaigns.cancel_lead_sequences,
            ],
        ),
        TaskQueue.SENDING: (
            [],
            [sending.send_message, delivery.deliver_step, mailboxes.test_mailbox_login],
        ),
        TaskQueue.IMPORTS: (
            [LeadImportWorkflow, ErasureWorkflow],
            [
                imports.import_lead_batch,
                imports.finish_lead_import,
                erasure.cancel_lead_workflows,
                erasure.erase_lead,
            ],
        ),
        TaskQueue.INBOUND: ([MailboxInboxWorkflow], [inbound.poll_mailbox_inbox]),
        TaskQueue.INFRA: (
            [
                TenantProvisioningWorkflow,
                DomainVerificationWorkflow,
                MailboxTestWorkflow,
                AnalyticsReconcileWorkflow,
                AnalyticsRetentionWorkflow,
                IpReputationWorkflow,
                IpWarmupWorkflow,
                MailboxWarmupWorkflow,
                VpsLifecycleWorkflow,
                TransactionalEmailWorkflow,
            ],
            [
                tenancy.provision_tenant,
                domains.check_domain_dns,
                analytics.reconcile,
                analytics.apply_retention,
                vps.provision_vps,
                vps.check_vps,
                vps.register_vps_ips,
                vps.start_billing_period,
                vps.schedule_vps_decommission,
                vps.move_vps_domains,
                vps.release_vps,
                warmups.advance_warmup,
                warmups.set_warmup_status,
                exchange.exchange_warmup,
                reputation.list_live_ips,
                reputation.check_ip_reputation,
                transactional.send_transactional_emails,
            ],
        ),
        TaskQueue.WEBHOOKS: ([WebhookEndpointWorkflow], [webhooks.deliver_webhooks]),
        TaskQueue.BILLING: (
            [SubscriptionWorkflow, StripeSweepWorkflow],
            [
                billing.seed_subscription,
                billing.fetch_subscription,
                billing.read_stripe_event,
                billing.record_payment,
                billing.mirror_subscription,
                billing.change_stripe_plan,
                billing.set_cancel_at_period_end,
                billing.notify_dunning,
                billing.set_billing_pause,
                billing.hand_over_stripe_events,
            ],
        ),
    }


def build_workers(
    client: Client,
    db: Database,
    settings: Settings,
    queues: Sequence[str] = (),
    secrets: SecretStore | None = None,
    providers: dict[str, VpsProvider] | None = None,
) -> list[Worker]:
    wanted = list(queues) or list(ALL_TASK_QUEUES)
    unknown = sorted(set(wanted) - set(ALL_TASK_QUEUES))
    if unknown:
        raise ValueError(f"unknown task queue(s): {', '.join(unknown)}")
    workers = []
    for queue, (workflows, activities) in registrations(db, settings, secrets, providers).items():
        if queue not in wanted or not (workflows or activities):
            continue
        limit = settings.sending_max_concurrent_activities if queue == TaskQueue.SENDING else None
        workers.append(
            Worker(
                client,
                task_queue=queue,
                workflows=workflows,
                activities=activities,
                max_concurrent_activities=limit,
                graceful_shutdown_timeout=timedelta(seconds=30),
            )
        )
    return workers


def build_vps_worker(
    client: Client,
    db: Database,
    settings: Settings,
    vps_id: str,
    secrets: SecretStore | None = None,
) -> Worker:
    """A sending server's own worker: the sending activities on its queue, bound to its IPs
    (each send's source address is the mailbox's domain's IP, which only this host holds)."""
    delivery = DeliveryActivities(db, secrets, settings, vps_id=vps_id)
    sending = SendingActivities(db, secrets, vps_id=vps_id)
    exchange = WarmupExchangeActivities(db, secrets, settings, vps_id=vps_id)
    return Worker(
        client,
        task_queue=vps_sending_queue(vps_id),
        activities=[delivery.deliver_step, sending.send_message, exchange.exchange_warmup],
        max_concurrent_activities=settings.sending_max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="PenguinMails Temporal worker")
    parser.add_argument(
        "--vps-id",
        default=None,
        help="serve only this sending server's queue, on the host that holds its IPs",
    )
    return parser.parse_args(list(argv))


async def main(argv: Sequence[str] = ()) -> int:
    args = parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    vps_id: str | None = args.vps_id or settings.worker_vps_id
    if vps_id is not None:
        return await serve_vps(settings, vps_id)
    try:
        await check_postgres(settings.app_database_url())
        await check_temporal(settings.temporal_address or "")
        if settings.events_consumer:
            await check_redis(settings.redis_url or "")
        store = secret_store(settings)
        client = await temporal_client(settings, store)
        providers = await load_providers(settings, store)
        if TaskQueue.INFRA in (settings.worker_task_queues or ALL_TASK_QUEUES):
            await ensure_reputation_schedule(
                client, list(settings.dnsbl_zones), settings.reputation_check_minutes
            )
    except (ServiceUnavailable, SecretStoreError) as exc:
        print(exc, file=sys.stderr)
        return 1
    db = Database(settings)
    try:
        for schedule_id in await ensure_schedules(client):
            log.info("created the Temporal Schedule %s", schedule_id)
    except Exception:  # not fatal: the next worker to start tries again
        log.exception("could not create the platform's Temporal Schedules")
    workers = build_workers(
        client, db, settings, settings.worker_task_queues, secrets=store, providers=providers
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runs = [asyncio.create_task(w.run()) for w in workers]
    redis: Redis | None = None
    if settings.events_consumer:
        # One consumer of the events group per worker process: it scales with the replicas.
        redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
        consumer = EventsConsumer(
            db, redis, client, settings, sequence_id=lead_sequence_workflow_id
        )
        runs.append(asyncio.create_task(consumer.run(stop)))
    log.info("worker serving %s", ", ".join(w.task_queue for w in workers))
    await stop.wait()
    log.info("shutting down: draining in-flight activities")
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*runs, return_exceptions=True)
    if redis is not None:
        await redis.aclose()
    await db.dispose()
    return 0


async def serve_vps(settings: Settings, vps_id: str) -> int:
    try:
        await check_postgres(settings.app_database_url())
        await check_temporal(settings.temporal_address or "")
        await check_redis(settings.redis_url or "")  # the `sent` events
        store = secret_store(settings)
        client = await temporal_client(settings, store)
    except (ServiceUnavailable, SecretStoreError) as exc:
        print(exc, file=sys.stderr)
        return 1
    db = Database(settings)
    worker = build_vps_worker(client, db, settings, vps_id, secrets=store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    log.info("sending worker of server %s serving %s", vps_id, worker.task_queue)
    await stop.wait()
    log.info("shutting down: draining in-flight sends")
    await worker.shutdown()
    await asyncio.gather(run, return_exceptions=True)
    await db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
