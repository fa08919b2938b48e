"""Task queues, workflow ids and search-attribute keys: the one pure module that the API,
the worker and the workflows all import (no I/O, no third-party imports but temporalio)."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from activities.interfaces.campaigns import CAMPAIGN_WORKFLOW_KIND
from activities.interfaces.search import TENANT_ID as TENANT_ID  # re-exported: one key


class TaskQueue(StrEnum):
    CAMPAIGNS = "campaigns"  # campaign and lead-sequence workflows
    SENDING = "sending"  # SMTP activities, concurrency bounded per worker
    IMPORTS = "imports"
    INBOUND = "inbound"
    INFRA = "infra"  # tenant provisioning, domains, IPs, VPS
    # Outbound webhook deliveries: slow or failing endpoints wait apart from the mail.
    WEBHOOKS = "webhooks"
    BILLING = "billing"  # subscription workflows and their Stripe activities


ALL_TASK_QUEUES: tuple[str, ...] = tuple(q.value for q in TaskQueue)

VPS_SENDING_QUEUE_PREFIX = "sending-vps-"


def vps_sending_queue(vps_id: UUID | str) -> str:
    """The sending queue of one server (`sending-vps-{id}`): only its own worker polls it,
    and only that worker can bind the server's IPs as a connection's source address."""
    return f"{VPS_SENDING_QUEUE_PREFIX}{vps_id}"


CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
LEAD_ID = SearchAttributeKey.for_keyword("LeadId")
MAILBOX_ID = SearchAttributeKey.for_keyword("MailboxId")
VPS_ID = SearchAttributeKey.for_keyword("VpsId")
# IP warmup workflows (the address as text), so staff find an IP's workflows.
IP_ADDRESS = SearchAttributeKey.for_keyword("IpAddress")
# Campaign workflows only, upserted as the status changes (draft, scheduled, sending, ...).
CAMPAIGN_STATUS = SearchAttributeKey.for_keyword("CampaignStatus")
# At most 10 Keyword attributes per namespace on the dev server (DESIGN rule 6).
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str], ...] = (
    TENANT_ID,
    CAMPAIGN_ID,
    LEAD_ID,
    MAILBOX_ID,
    VPS_ID,
    CAMPAIGN_STATUS,
    IP_ADDRESS,
)


def workflow_id(kind: str, tenant_id: UUID | str, entity_id: UUID | str) -> str:
    """`{kind}:{tenant_id}:{entity_id}` (DESIGN rule 6)."""
    return f"{kind}:{tenant_id}:{entity_id}"


def tenant_attributes(tenant_id: UUID | str, **extra: str) -> TypedSearchAttributes:
    keys = {
        "campaign_id": CAMPAIGN_ID,
        "lead_id": LEAD_ID,
        "mailbox_id": MAILBOX_ID,
        "vps_id": VPS_ID,
        "ip_address": IP_ADDRESS,
    }
    pairs = [SearchAttributePair(TENANT_ID, str(tenant_id))]
    pairs += [SearchAttributePair(keys[name], str(value)) for name, value in extra.items()]
    return TypedSearchAttributes(pairs)


TENANT_PROVISIONING = "tenant-provisioning"
LEAD_IMPORT = "lead-import"
ERASURE = "erasure"
DOMAIN_VERIFICATION = "domain-verification"
MAILBOX_TEST = "mailbox-test"
CAMPAIGN = CAMPAIGN_WORKFLOW_KIND
LEAD_SEQUENCE = "lead-sequence"
TEST_SEND = "test-send"
MAILBOX_INBOX = "mailbox-inbox"
INBOX_REPLY = "inbox-reply"
VPS_LIFECYCLE = "vps-lifecycle"
IP_WARMUP = "ip-warmup"
MAILBOX_WARMUP = "mailbox-warmup"
SUBSCRIPTION = "subscription"


def subscription_workflow_id(tenant_id: UUID | str) -> str:
    """One subscription workflow per tenant: `subscription:{tenant}:{tenant}`."""
    return workflow_id(SUBSCRIPTION, tenant_id, tenant_id)


def campaign_workflow_id(tenant_id: UUID | str, campaign_id: UUID | str) -> str:
    return workflow_id(CAMPAIGN, tenant_id, campaign_id)


def mailbox_inbox_workflow_id(tenant_id: UUID | str, email_account_id: UUID | str) -> str:
    return workflow_id(MAILBOX_INBOX, tenant_id, email_account_id)


def lead_sequence_workflow_id(
    tenant_id: UUID | str, campaign_id: UUID | str, lead_id: UUID | str
) -> str:
    """`lead-sequence:{tenant}:{campaign}:{lead}`: the entity is the (campaign, lead) pair, so
    the same lead in two campaigns has two workflows."""
    return lead_sequence_prefix(tenant_id, campaign_id) + str(lead_id)


def lead_sequence_prefix(tenant_id: UUID | str, campaign_id: UUID | str) -> str:
    """What the ids of a campaign's lead workflows start with (activities append the lead)."""
    return workflow_id(LEAD_SEQUENCE, tenant_id, f"{campaign_id}:")


# Platform-wide Schedules (no tenant): their ids, and the ids of the runs they start.
ANALYTICS_RECONCILE = "analytics-reconcile"
ANALYTICS_RECONCILE_SCHEDULE = "schedule:analytics-reconcile"
ANALYTICS_RETENTION = "analytics-retention"
ANALYTICS_RETENTION_SCHEDULE = "schedule:analytics-retention"
STRIPE_SWEEP = "stripe-sweep"
STRIPE_SWEEP_SCHEDULE = "schedule:stripe-sweep"
TRANSACTIONAL_EMAIL = "transactional-email"
TRANSACTIONAL_EMAIL_SCHEDULE = "schedule:transactional-email"
