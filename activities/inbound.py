"""Inbound-mail activities: a mailbox's IMAP poll, of its inbox and then its spam folders
(each from its own checkpoint). Each message is recorded through
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
from dataclasses import dataclass, field
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
from activities.mail_clients import (
    ServerSettings,
    fetch_new_messages,
    imap_failure,
    spam_folders,
)
from activities.webhooks import wake_endpoints
from penguinmails.db import Database
from penguinmails.inbound_mail import record_inbound
from penguinmails.mailboxes import read_credentials
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.inbound import InboundRepository
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.warmup_exchange import is_warmup


@dataclass
class _Polled:
    """What a poll found, over the folders it read."""

    fetched: int = 0
    recorded: int = 0
    more: bool = False
    facts: list[LeadFactOut] = field(default_factory=list)

    def add(self, other: _Polled) -> None:
        self.fetched += other.fetched
        self.recorded += other.recorded
        self.more = self.more or other.more
        self.facts += other.facts

    def output(self, note: str = "") -> PollInboxOutput:
        return PollInboxOutput(
            MAILBOX_ACTIVE, self.fetched, self.recorded, self.more, self.facts, note=note
        )


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
        if account is None or account.deleted is not None:
            return PollInboxOutput(MAILBOX_GONE)
        if account.status != "active":
            return PollInboxOutput(MAILBOX_INACTIVE, note=f"mailbox {account.status}")
        try:
            creds = await read_credentials(self.secrets, account)
        except SecretStoreError as exc:  # retried: Vault may be back in a moment
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        settings = ServerSettings.of(account.imap_settings)
        user = settings.username or account.email
        total = _Polled()
        try:
            folders = [data.folder]
            if data.folder == "INBOX" and data.with_spam:
                # Replies and bounces that a provider filed as spam count as much as the
                # inbox's (each folder keeps its own checkpoint).
                folders += await spam_folders(settings, user, creds.imap_password)
            for folder in folders:
                total.add(
                    await self._poll_folder(
                        tenant_id, account_id, settings, user, creds.imap_password, folder, data
                    )
                )
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            if total.fetched:  # the inbox was read: its facts go on, the rest next time
                return total.output(note=imap_failure(exc))
            return PollInboxOutput(MAILBOX_UNREACHABLE, note=imap_failure(exc))
        return total.output()

    async def _poll_folder(
        self,
        tenant_id: UUID,
        account_id: UUID,
        settings: ServerSettings,
        user: str,
        password: str,
        folder: str,
        data: PollInboxInput,
    ) -> _Polled:
        async with self.db.tenant_session(tenant_id) as session:
            uidvalidity, last_uid = await InboundRepository(session).checkpoint(account_id, folder)
        batch = await fetch_new_messages(
            settings,
            user,
            password,
            folder,
            uidvalidity,
            last_uid,
            data.max_messages,
            data.max_message_bytes,
        )
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
                await request_breaker_pause(self._temporal(), str(tenant_id), trip)
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
                    tenant_id, account_id, folder, batch.uidvalidity, newest
                )
        activity.logger.info(
            "mailbox %s, %s: %d fetched, %d new, %d facts",
            account_id,
            folder,
            len(batch.messages),
            recorded,
            len(facts),
        )
        return _Polled(len(batch.messages), recorded, batch.more, facts)
