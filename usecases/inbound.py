"""Inbound mail's use cases: starting a mailbox's inbox workflow (when the mailbox becomes
active, or by an operator for the mailboxes that exist), and a message posted to
`/webhooks/inbound` recorded and its facts signalled."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from temporalio.client import Client

from activities.campaigns import request_breaker_pause
from activities.interfaces.campaigns import LeadSignal
from activities.interfaces.inbound import SIGNAL_WAKE
from activities.webhooks import wake_endpoints
from penguinmails.db import Database
from penguinmails.inbound_mail import InboundRecord, record_inbound
from penguinmails.mail.inbound import recipients_of
from penguinmails.repositories.inbound import active_mailboxes, route_address
from usecases.campaigns import _signal_quietly
from workflows.mailbox_inbox import MailboxInboxInput, MailboxInboxWorkflow
from workflows.names import (
    TaskQueue,
    lead_sequence_workflow_id,
    mailbox_inbox_workflow_id,
    tenant_attributes,
)


async def start_inbox(client: Client, tenant_id: UUID, email_account_id: UUID) -> None:
    """Signal-with-start: a running inbox polls at once, a missing one starts."""
    await client.start_workflow(
        MailboxInboxWorkflow.run,
        MailboxInboxInput(str(tenant_id), str(email_account_id)),
        id=mailbox_inbox_workflow_id(tenant_id, email_account_id),
        task_queue=TaskQueue.INBOUND,
        search_attributes=tenant_attributes(tenant_id, mailbox_id=str(email_account_id)),
        start_signal=SIGNAL_WAKE,
    )


async def start_all_inboxes(db: Database, client: Client) -> int:
    """Every live active mailbox of every tenant gets its inbox workflow; how many."""
    async with db.admin_session() as session:
        mailboxes = await active_mailboxes(session)
    for tenant_id, account_id in mailboxes:
        await start_inbox(client, tenant_id, account_id)
    return len(mailboxes)


@dataclass(frozen=True)
class Accepted:
    record: InboundRecord
    signalled: int


class NoSuchMailbox(LookupError):
    """No live mailbox of ours is among the message's recipients."""


async def accept_inbound(
    db: Database,
    client: Client,
    raw: bytes,
    recipient: str | None = None,
    max_parse_bytes: int | None = None,
) -> Accepted:
    """Record a raw message delivered to one of our mailboxes (the envelope `recipient`
    when the relay gives one, else its To/Cc/Delivered-To headers), then signal its facts.
    Raises NoSuchMailbox."""
    candidates = [recipient] if recipient else recipients_of(raw)
    route: tuple[UUID, UUID] | None = None
    async with db.admin_session() as session:
        for address in candidates:
            route = await route_address(session, address)
            if route is not None:
                break
    if route is None:
        raise NoSuchMailbox("no mailbox of ours among the recipients")
    tenant_id, account_id = route
    record = await record_inbound(db, tenant_id, account_id, raw, max_parse_bytes=max_parse_bytes)
    if record.webhook_event_ids:
        await wake_endpoints(db, lambda: client, tenant_id, record.webhook_event_ids)
    if record.campaign_breaker is not None:
        # Asked of the campaign's workflow, not waited for: the relay's request does not
        # wait for the campaign's sends in flight to drain.
        await request_breaker_pause(client, tenant_id, record.campaign_breaker, wait=False)
    told = 0
    for fact in record.facts:
        for campaign_id in fact.campaign_ids:
            told += await _signal_quietly(
                client,
                lead_sequence_workflow_id(tenant_id, campaign_id, fact.lead_id),
                fact.signal,
                LeadSignal(str(tenant_id), fact.detail),
            )
    return Accepted(record, told)
