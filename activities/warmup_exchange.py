"""One warmup exchange round of a mailbox in the warmup pool (`penguinmails.warmup_exchange`).

First the mailbox tends its own inbox: the partners' warmup messages found in its inbox or
its spam folder are checked (the marker's MAC), recorded (`received` for itself; `opened`,
`moved_to_inbox` and, for the ones it answers, `replied` for the sender, under the sender's
tenant), answered where the stable draw says so, then filed (seen, not junk, out of the
inbox). Then it sends this round's messages to partners drawn from the pool, through its own
SMTP server, DKIM-signed with its domain's key like campaign mail, and records them `sent`.

A round repeated after a crash records nothing twice (interactions are unique per message);
an answer is sent only by the round whose `replied` row was new, so it is never sent twice.
"""

from __future__ import annotations

import datetime as dt
import random
from email.utils import parseaddr
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.warmups import (
    EXCHANGE_ROUND_HOURS,
    EXCHANGE_WARMUP,
    OTHER_HOST,
    ExchangeInput,
    ExchangeOutput,
)
from activities.mail_clients import ServerSettings, SmtpConnections, SmtpSendError
from activities.warmup_mailbox import FoundWarmup, file_warmup_messages, find_warmup_messages
from penguinmails.db import Database
from penguinmails.domains import read_dkim_private_key
from penguinmails.mail import dkim_keys
from penguinmails.mailboxes import read_credentials
from penguinmails.models.infra import EmailAccount
from penguinmails.repositories.domains import DomainRepository
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.warmup_stats import Interaction, WarmupStatsRepository
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings
from penguinmails.warmup_exchange import HEADER, answers, compose, read_marker, round_volume

SIGNED_HEADERS = ("To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", HEADER)
# Warmup messages tended in one round at most (the rest wait for the next round).
TEND_LIMIT = 200


class WarmupExchangeActivities:
    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        settings: Settings,
        vps_id: str | None = None,
    ) -> None:
        self.db = db
        self.vps_id = vps_id  # the sending server this worker runs on (None: a shared one)
        self.secrets = secrets
        self.settings = settings
        self.connections = SmtpConnections()
        self._key: bytes | None = None

    async def _marker_key(self) -> bytes:
        assert self.secrets is not None
        if self._key is None:
            self._key = await self.secrets.get_or_create_codec_key(self.settings.warmup_key_path)
        return self._key

    @activity.defn(name=EXCHANGE_WARMUP)
    async def exchange_warmup(self, data: ExchangeInput) -> ExchangeOutput:
        tenant_id = UUID(data.tenant_id)
        async with self.db.tenant_session(tenant_id) as session:
            warmup = await WarmupRepository(session).get(UUID(data.warmup_id))
            if warmup is None or warmup.email_account_id is None:
                return ExchangeOutput(skipped="not a mailbox warmup")
            if not warmup.pool:
                return ExchangeOutput(skipped="not in the warmup pool")
            if warmup.status != "active":
                return ExchangeOutput(skipped=f"warmup {warmup.status}")
            account = await EmailAccountRepository(session).get(warmup.email_account_id)
            if account is None or account.deleted is not None or account.status != "active":
                return ExchangeOutput(skipped="mailbox not active")
            sends = (
                round_volume(warmup.today_cap, len(EXCHANGE_ROUND_HOURS))
                if data.sends is None
                else data.sends
            )
            partners = (
                await WarmupRepository(session).pool_partners(account.id, sends)
                if sends > 0
                else []
            )
            domain = await DomainRepository(session).get(account.domain_id)
            ip = await IpAddressRepository(session).sending_ip(account.domain_id)
        # Warmup mail leaves like campaign mail: from the domain's IP, on its server's host.
        host = str(ip.vps_id) if ip is not None else None
        if host != self.vps_id:
            return ExchangeOutput(skipped=OTHER_HOST, host_vps_id=host)
        if self.secrets is None:
            raise ApplicationError("this worker has no secret store", type="NoSecretStore")
        try:
            creds = await read_credentials(self.secrets, account)
            key = await self._marker_key()
            dkim = None
            if domain is not None and domain.dkim_selector and domain.vault_key_path:
                dkim = (
                    domain.domain.lower(),
                    domain.dkim_selector,
                    await read_dkim_private_key(self.secrets, domain),
                )
        except SecretStoreError as exc:  # retried: Vault may be back in a moment
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        imap = ServerSettings.of(account.imap_settings)
        smtp = ServerSettings.of(account.smtp_settings, ip)
        imap_user = imap.username or account.email
        smtp_user = smtp.username or account.email
        rng = random.Random()

        async def send(to: str, reply_to: tuple[str, str] | None = None) -> str:
            message = compose(
                key,
                tenant_id,
                account.id,
                account.email,
                to,
                dt.datetime.now(dt.UTC),
                rng=rng,
                reply_to=reply_to,
            )
            raw = message.raw
            if dkim is not None:
                # Campaign mail's required set names the unsubscribe headers; a warmup
                # message has none, and signs what it has.
                head = raw.split(b"\r\n\r\n", 1)[0].lower()
                signed = [h for h in SIGNED_HEADERS if b"\n" + h.lower().encode() + b":" in head]
                raw = (
                    dkim_keys.sign(
                        raw,
                        domain=dkim[0],
                        selector=dkim[1],
                        private_pem=dkim[2],
                        headers=["From", *signed],
                    )
                    + raw
                )
            await self.connections.send(
                str(account.id), smtp, smtp_user, creds.smtp_password, account.email, [to], raw
            )
            return message.message_id

        # -- tend the inbox ----------------------------------------------------------------
        found = await find_warmup_messages(imap, imap_user, creds.imap_password, TEND_LIMIT)
        genuine: list[FoundWarmup] = []
        received = rescued = replied = 0
        for item in found:
            sender = read_marker(key, item.marker, item.message_id)
            if sender is None or sender.mailbox_id == account.id:
                continue  # forged, altered or our own: filed below like the rest, counted nowhere
            genuine.append(item)
            partner = parseaddr(item.sender)[1] or None
            now = dt.datetime.now(dt.UTC)
            async with self.db.analytics_session(tenant_id) as session:
                mine = await WarmupStatsRepository(session).record(
                    tenant_id, account.id, now, [Interaction("received", item.message_id, partner)]
                )
            received += mine.get("received", 0)
            theirs = [Interaction("opened", item.message_id, account.email)]
            if item.spam:
                theirs.append(Interaction("moved_to_inbox", item.message_id, account.email))
            answer = not item.in_reply_to and answers(item.message_id)
            if answer:
                theirs.append(Interaction("replied", item.message_id, account.email))
            async with self.db.analytics_session(sender.tenant_id) as session:
                added = await WarmupStatsRepository(session).record(
                    sender.tenant_id, sender.mailbox_id, now, theirs
                )
            rescued += added.get("moved_to_inbox", 0)
            if answer and added.get("replied") and partner:
                try:
                    reply_id = await send(partner, (item.message_id, item.subject))
                except SmtpSendError as exc:
                    activity.logger.warning("warmup answer not sent: %s", exc)
                    continue
                replied += 1
                await self._record_sent(tenant_id, account, reply_id, partner)
            activity.heartbeat(received)
        await file_warmup_messages(imap, imap_user, creds.imap_password, found)

        # -- send this round's messages ------------------------------------------------------
        sent = 0
        # A pool smaller than the round's volume: the partners take turns.
        for n in range(sends if partners else 0):
            partner_box = partners[n % len(partners)]
            try:
                message_id = await send(partner_box.email)
            except SmtpSendError as exc:
                # The round goes on with the next partner; a server that refuses everything
                # shows as nothing sent (the ramp's bounce handling is the campaign path's).
                activity.logger.warning("warmup message not sent: %s", exc)
                continue
            sent += 1
            await self._record_sent(tenant_id, account, message_id, partner_box.email)
            activity.heartbeat(received + sent)
        return ExchangeOutput(
            sent=sent,
            received=received,
            rescued=rescued,
            replied=replied,
            partners=len(partners),
        )

    async def _record_sent(
        self, tenant_id: UUID, account: EmailAccount, message_id: str, partner: str
    ) -> None:
        async with self.db.analytics_session(tenant_id) as session:
            await WarmupStatsRepository(session).record(
                tenant_id,
                account.id,
                dt.datetime.now(dt.UTC),
                [Interaction("sent", message_id, partner)],
            )

    async def close(self) -> None:
        await self.connections.close()
