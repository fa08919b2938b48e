"""Inbound-mail activities: a mailbox's IMAP poll. Each message is recorded through
`penguinmails.inbound_mail.record_inbound` (stored, classified, threaded, statuses and
suppressions, raw analytics rows); the facts for the lead workflows go back to the inbox
workflow, which signals them.

The checkpoint moves once the whole batch is recorded: a poll that fails half-way is retried
from the same UID, records nothing twice (Message-ID idempotency) and returns every fact
again, so none is lost between a commit and a signal.
"""

from __future__ import annotations

import imaplib
import ssl
from uuid import UUID

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.campaigns import request_breaker_pause
from activities.interfaces.inbound import (
    MAILBOX_ACTIVE,
    MAILBOX_GONE,
    MAILBOX_INACTIVE,
    MAILBOX_UNREACHABLE,
    POLL_MAILBOX_INBOX,
    LeadFactOut,
    PollInboxInput,
    PollInboxOutput,
)
from activities.mail_clients import ServerSettings, fetch_new_messages, imap_failure
from activities.webhooks import wake_endpoints
from penguinmails.db import Database
from penguinmails.inbound_mail import record_inbound
from penguinmails.mailboxes import read_credentials
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.inbound import InboundRepository
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.warmup_exchange import is_warmup


class InboundActivities:
    def __init__(
        self, db: Database, secrets: SecretStore | None, client: Client | None = None
    ) -> None:
        self.db = db
        self.secrets = secrets
        self._client = client  # else the worker's, from the activity context

    def _temporal(self) -> Client:
        return self._client or activity.client()

    @activity.defn(name=POLL_MAILBOX_INBOX)
    async def poll_mailbox_inbox(self, data: PollInboxInput) -> PollInboxOutput:
        if self.secrets is None:
            raise ApplicationError("this worker has no secret store", type="NoSecretStore")
        tenant_id, account_id = UUID(data.tenant_id), UUID(data.email_account_id)
        async with self.db.tenant_session(tenant_id) as session:
            account = await EmailAccountRepository(session).get(account_id)
            uidvalidity, last_uid = await InboundRepository(session).checkpoint(
                account_id, data.folder
            )
        if account is None or account.deleted is not None:
            return PollInboxOutput(MAILBOX_GONE)
        if account.status != "active":
            return PollInboxOutput(MAILBOX_INACTIVE, note=f"mailbox {account.status}")
        try:
            creds = await read_credentials(self.secrets, account)
        except SecretStoreError as exc:  # retried: Vault may be back in a moment
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        settings = ServerSettings.of(account.imap_settings)
        try:
            batch = await fetch_new_messages(
                settings,
                settings.username or account.email,
                creds.imap_password,
                data.folder,
                uidvalidity,
                last_uid,
                data.max_messages,
                data.max_message_bytes,
            )
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            return PollInboxOutput(MAILBOX_UNREACHABLE, note=imap_failure(exc))
        facts: list[LeadFactOut] = []
        recorded = 0
        tripped: set[UUID] = set()
        hooks: list[str] = []
        for uid, raw in batch.messages:
            if is_warmup(raw):
                continue  # the warmup exchange's (activities/warmup_exchange.py), not a reply
            record = await record_inbound(
                self.db, tenant_id, account_id, raw, max_parse_bytes=data.max_message_bytes
            )
            hooks += record.webhook_event_ids
            trip = record.campaign_breaker
            if trip is not None and trip.campaign_id not in tripped:
                # Before the checkpoint moves: a crash here repeats the poll, which finds
                # the campaign still over its thresholds and pauses it then.
                activity.heartbeat(uid)
                await request_breaker_pause(self._temporal(), data.tenant_id, trip)
                tripped.add(trip.campaign_id)
            recorded += record.created
            facts += [
                LeadFactOut(str(f.lead_id), f.signal, f.detail, [str(c) for c in f.campaign_ids])
                for f in record.facts
            ]
            activity.heartbeat(uid)
        if hooks:
            # Before the checkpoint moves: a repeated poll wakes them again.
            await wake_endpoints(self.db, self._temporal, tenant_id, hooks)
        if batch.messages or batch.uidvalidity != uidvalidity:
            newest = batch.messages[-1][0] if batch.messages else 0
            async with self.db.tenant_session(tenant_id) as session:
                await InboundRepository(session).save_checkpoint(
                    tenant_id, account_id, data.folder, batch.uidvalidity, newest
                )
        activity.logger.info(
            "mailbox %s: %d fetched, %d new, %d facts",
            account_id,
            len(batch.messages),
            recorded,
            len(facts),
        )
        return PollInboxOutput(MAILBOX_ACTIVE, len(batch.messages), recorded, batch.more, facts)
