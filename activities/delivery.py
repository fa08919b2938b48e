"""`deliver_step`: one e-mail step of a lead's sequence (or a test send), sent exactly once,
within every cap, under the outbox contract (DESIGN "Outbox"; the contract of this activity
is `activities/interfaces/delivery.py`).

1. *Build* from ids: the campaign, the step, the lead's variant (its enrollment draw over
   the active variants' weights), the template rendered with the lead's fields (sample data
   for a test send without a lead) and the sender, subject and from-name overrides,
   tracking as the campaign says, threading under the lead's first message for a
   follow-up, and the deterministic Message-ID `outbound_message_id(campaign, lead, step)`
   (`test:{test_key}` in place of the lead for a test send) on the mailbox's domain. A
   template that cannot render fails before any slot is taken.
2. *Reserve*, one committed transaction (`OutboxRepository.reserve`): every check and
   every slot. A first touch tries the campaign's mailboxes in rotation order
   (`CapacityRepository.campaign_rotation`) and moves on when one refuses for its own
   reasons; a follow-up stays on its sticky mailbox (threading), and waits when that one
   cannot send.
3. *Resolve* a row an earlier attempt may have sent (still `reserved`, attempts > 0): after
   any attempt still in flight (the row lock), ask the mailbox's Sent folder over IMAP
   (the dev stack's sink files each dev mailbox's copy there, so the same question works in
   development). Found: `sent`. Not found on a mailbox that keeps a copy of everything it
   sends (`smtp_settings.saves_sent_copy`, as Gmail and Microsoft 365 do, or the dev sink):
   send again. Otherwise `unknown`, never resent. IMAP unreachable: ask again later.
4. *Send*: the mailbox connection's lock (in-process, per mailbox), the connection opened
   if it is not (TLS, EHLO, AUTH: a slow or dead server holds no database lock), then the
   attempt counted and committed (a crash from here on leaves a trace), then one READ COMMITTED
   transaction: the campaign's shared advisory lock, the re-check in a statement of its own
   with the row `FOR UPDATE`, the SMTP exchange, the outcome written. The attempt is
   counted after the lock, not before: a crash while waiting for the lock would otherwise
   leave a row that looks as if it may have been sent.

Hosts: a mailbox whose domain is assigned a platform IP sends from that IP
(`IpAddressRepository.sending_ip`: bound as the source address, EHLO with its PTR name), and
only the worker of the server holding it (`vps_id`, polling `vps_sending_queue(vps_id)`) can
bind it. A call that picks such a mailbox on any other worker, or a mailbox without an IP on
a server's worker, answers `deferred`/`other_host` with the mailbox and its host before
reserving anything; the workflow calls again there.

Lock order, everywhere: the mailbox's counter row (reserve, and give-backs), the campaign's
advisory lock, the outbox row. A give-back (`defer`) updates counter rows while holding the
campaign lock and the outbox row; that cannot deadlock because whatever holds a counter row
(the reserve step) never waits for the campaign lock or for an existing outbox row.

SMTP answers (`penguinmails.delivery.blame`): 5.1.x at RCPT is the lead's hard bounce (row
`bounced`, lead `bounced`, address suppressed, all written before `stopped`/`bounced` is
returned); a refused login marks the mailbox `authentication_failed` and tells the tenant;
5.7.x and other 5xx are the mailbox's or the content's (`deferred`/`mailbox_failure`, slots
back, the lead untouched); 4xx and no connection are transient (`deferred`/`smtp_transient`,
slots back); a connection lost during DATA leaves the row reserved with its attempt counted,
so the next call asks the mailbox.

Kill-safety: the call heartbeats (every third of `DELIVER_HEARTBEAT_TIMEOUT`) for as long as it
runs, so a worker killed mid-send is noticed within seconds and the retry resolves the row
as above. A call Temporal cancels (its timeout passed, the workflow cancelled, the worker
shutting down) is not cut: it finishes in the background, since an SMTP exchange cut in DATA
would leave the connection unusable and the row's outcome to be asked of the mailbox; the
retry waits for the row it holds.

After `sent` (and again on a retry that finds `sent`), a `sent` event goes to the Redis
stream `EVENTS_STREAM`, its `id` the outbox row's id (the consumer is idempotent on it); a
bounce at RCPT writes a `bounced` event the same way (no DSN will come for it). Test sends
write no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import imaplib
import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from uuid import UUID

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.campaigns import request_breaker_pause
from activities.interfaces.delivery import (
    DELIVER_HEARTBEAT_TIMEOUT,
    DELIVER_STEP,
    OUTCOME_DEFERRED,
    OUTCOME_SENT,
    OUTCOME_STOPPED,
    OUTCOME_UNKNOWN,
    REASON_OTHER_HOST,
    DeliverInput,
    DeliverOutput,
)
from activities.interfaces.sending import SmtpFailure
from activities.mail_clients import ServerSettings, SmtpConnections, SmtpSendError, sent_folder_has
from penguinmails import tokens
from penguinmails.breakers import campaign_breaker, mailbox_breaker
from penguinmails.db import Database
from penguinmails.delivery import Blame, blame, pick_variant
from penguinmails.domains import read_dkim_private_key
from penguinmails.leads.emails import address_hash
from penguinmails.mail.message import (
    UNSUBSCRIBE_PLACEHOLDER,
    DkimKey,
    MessageSpec,
    build_message,
    outbound_message_id,
    thread_subject,
)
from penguinmails.mail.personalize import SAMPLE_LEAD, TemplateRenderError, context_for, render
from penguinmails.mail.records import tracking_host
from penguinmails.mailboxes import Credentials, read_credentials
from penguinmails.models.infra import Domain, EmailAccount
from penguinmails.repositories.capacity import CapacityRepository, MailboxCapacity
from penguinmails.repositories.delivery import (
    DeliveryRepository,
    SentRow,
    StepContext,
    TemplateSource,
)
from penguinmails.repositories.ip_addresses import IpAddressRepository, SendingIp
from penguinmails.repositories.outbox import OutboxRepository, Refused, Reservation, SendRequest
from penguinmails.repositories.suppressions import SuppressionRepository
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings

log = logging.getLogger(__name__)

# Refusals that belong to one mailbox: a first touch tries the next campaign mailbox.
# Secrets (a mailbox's passwords, a domain's DKIM key) are kept this long per process.
SECRET_TTL = 300.0
SECRET_CACHE_SIZE = 10_000
T = TypeVar("T")

MAILBOX_REASONS = frozenset({"mailbox_not_active", "gap", "mailbox_daily_cap"})
STOPPING_REASONS = frozenset({"lead_stopped", "suppressed"})


@dataclass(frozen=True)
class Mailbox:
    account: EmailAccount
    domain: Domain
    ip: SendingIp | None = None  # the platform IP its domain sends from, if any


@dataclass(frozen=True)
class Built:
    raw: bytes
    request: SendRequest


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.UTC).isoformat() if when is not None else None


def _attempt_key() -> str:
    """A test send's key when the caller gave none: the same across Temporal's retries of
    one activity (its workflow run and activity id), unique per request otherwise."""
    try:
        info = activity.info()
    except RuntimeError:  # not running as an activity
        return uuid.uuid4().hex
    return f"{info.workflow_id}:{info.workflow_run_id}:{info.activity_id}"


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeats while the body runs (a no-op outside an activity, as in the benchmarks)."""
    if not activity.in_activity():
        yield
        return
    every = DELIVER_HEARTBEAT_TIMEOUT.total_seconds() / 3

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class DeliveryActivities:
    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        settings: Settings,
        redis: Redis | None = None,
        connections: SmtpConnections | None = None,
        vps_id: str | None = None,
    ) -> None:
        self.db = db
        # The server this worker runs on (None: a shared worker): it sends only for mailboxes
        # whose domain's IP this host holds, and hands the others to their host.
        self.vps_id = vps_id
        self.secrets = secrets
        self.settings = settings
        self._redis = redis
        self.connections = connections or SmtpConnections()
        self._token_key: bytes | None = None
        self._secret_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        # Calls whose activity was cancelled, finishing in the background (kept referenced).
        self._orphans: set[asyncio.Task[DeliverOutput]] = set()

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.settings.redis_url or "", decode_responses=False)
        return self._redis

    async def _cached(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        """A secret read once per `SECRET_TTL` per worker process. Keys carry the row's
        `updated`, which every change of the secret bumps (a new password goes through
        `set_passwords`), so a changed secret is read again at once."""
        now = time.monotonic()
        hit = self._secret_cache.get(key)
        if hit is not None and now - hit[0] < SECRET_TTL:
            return cast(T, hit[1])
        value = await load()
        if len(self._secret_cache) >= SECRET_CACHE_SIZE:
            self._secret_cache.clear()
        self._secret_cache[key] = (now, value)
        return value

    async def credentials(self, account: EmailAccount) -> Credentials:
        return await self._cached(
            ("mailbox", account.vault_key_path, account.updated),
            lambda: read_credentials(self.store, account),
        )

    async def dkim_private_key(self, domain: Domain) -> str:
        return await self._cached(
            ("dkim", domain.vault_key_path, domain.updated),
            lambda: read_dkim_private_key(self.store, domain),
        )

    async def token_key(self) -> bytes:
        if self._token_key is None:
            self._token_key = await tokens.tracking_key(self.store, self.settings)
        return self._token_key

    @property
    def store(self) -> SecretStore:
        if self.secrets is None:
            raise ApplicationError("this worker has no secret store", type="NoSecretStore")
        return self.secrets

    @activity.defn(name=DELIVER_STEP)
    async def deliver_step(self, data: DeliverInput) -> DeliverOutput:
        async with _heartbeating():
            task = asyncio.create_task(self._deliver(data))
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():  # finishes on its own; its retry waits for the row
                    self._orphans.add(task)
                    task.add_done_callback(self._orphan_done)
                raise

    def _orphan_done(self, task: asyncio.Task[DeliverOutput]) -> None:
        self._orphans.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a cancelled send ended with %r", task.exception())

    async def _deliver(self, data: DeliverInput) -> DeliverOutput:
        try:
            return await _Delivery(self, data).run()
        except SecretStoreError as exc:
            raise ApplicationError(str(exc), type="SecretStoreUnavailable") from None
        except TemplateRenderError as exc:
            raise ApplicationError(
                f"the template cannot be rendered: {exc}", type="TemplateError", non_retryable=True
            ) from None

    async def close(self) -> None:
        if self._orphans:
            await asyncio.wait(self._orphans)
        await self.connections.close()
        if self._redis is not None:
            await self._redis.aclose()


class _Delivery:
    """One call of `deliver_step`."""

    def __init__(self, acts: DeliveryActivities, data: DeliverInput) -> None:
        self.acts = acts
        self.db = acts.db
        self.data = data
        self.tenant_id = UUID(data.tenant_id)
        self.campaign_id = UUID(data.campaign_id)
        self.step_id = UUID(data.step_id)
        self.lead_id = _uuid(data.lead_id)
        self.is_test = data.test_to is not None
        self.test_key = data.test_key or _attempt_key()
        self.month_limit: int | None = None
        self.ctx: StepContext | None = None
        self.source: TemplateSource | None = None
        self.variant_id: UUID | None = None
        self.subject_source = ""

    # -- outcomes -------------------------------------------------------------------------------

    def _out(self, outcome: str, reason: str = "", **kw: Any) -> DeliverOutput:
        return DeliverOutput(outcome=outcome, reason=reason, **kw)

    def _deferred(self, reason: str, retry_at: dt.datetime | None = None) -> DeliverOutput:
        return self._out(OUTCOME_DEFERRED, reason, retry_at=_iso(retry_at))

    async def _settled(self, row: Reservation) -> DeliverOutput | None:
        """The answer for a row that needs nothing more; None for `reserved`/`deferred`."""
        if row.status == "sent":
            return await self._sent(row.id)
        if row.status == "unknown":
            return self._out(
                OUTCOME_UNKNOWN,
                "unknown",
                mailbox_id=str(row.email_account_id),
                message_id=row.message_id,
                outbox_id=str(row.id),
            )
        if row.status == "bounced":
            return await self._bounced(row.id)
        if row.status == "failed":
            return self._out(
                OUTCOME_STOPPED,
                row.status,
                mailbox_id=str(row.email_account_id),
                message_id=row.message_id,
                outbox_id=str(row.id),
            )
        return None

    async def _sent(self, row_id: UUID) -> DeliverOutput:
        """`sent`, with its event appended (again, under the same id, on a retry)."""
        row = await self._event(row_id, "sent")
        return self._out(
            OUTCOME_SENT,
            mailbox_id=str(row.email_account_id),
            message_id=row.message_id,
            outbox_id=str(row.id),
            variant_id=str(row.variant_id) if row.variant_id else None,
        )

    async def _bounced(self, row_id: UUID) -> DeliverOutput:
        """`stopped`/`bounced` (this send's 5.1.x at RCPT), with its `bounced` event: the
        recipient's server refused it, so no DSN will ever arrive for the inbox to read.
        Then the circuit breakers, as for a DSN's hard bounce (a retry looks again)."""
        row = await self._event(row_id, "bounced")
        if not row.is_test:
            await self._breakers(row)
        return self._out(
            OUTCOME_STOPPED,
            "bounced",
            mailbox_id=str(row.email_account_id),
            message_id=row.message_id,
            outbox_id=str(row.id),
            variant_id=str(row.variant_id) if row.variant_id else None,
        )

    async def _breakers(self, row: SentRow) -> None:
        """The mailbox paused (with its notice) in a transaction of its own once its
        hard-bounce rate passes the limit; the campaign's pause asked of its workflow, not
        waited for (the pause waits for the sends in flight, this one among its peers)."""
        async with self.db.tenant_session(self.tenant_id) as session:
            await mailbox_breaker(session, self.tenant_id, row.email_account_id)
            trip = await campaign_breaker(session, row.campaign_id) if row.campaign_id else None
        if trip is not None and activity.in_activity():
            await request_breaker_pause(activity.client(), self.tenant_id, trip, wait=False)

    async def _event(self, row_id: UUID, kind: str) -> SentRow:
        """The row's `sent` or `bounced` event on the events stream, its id the row's (the
        consumer ingests an id once); test sends write none."""
        async with self.db.tenant_session(self.tenant_id) as session:
            row = await DeliveryRepository(session).sent_row(row_id)
        if row.is_test:
            return row
        fields: dict[Any, Any] = {
            "id": str(row.id),
            "type": kind,
            "tenant": str(row.tenant_id),
            "campaign": str(row.campaign_id or ""),
            "step": str(row.step_id or ""),
            "variant": str(row.variant_id or ""),
            "mailbox": str(row.email_account_id),
            "lead": str(row.lead_id or ""),
            "message_id": row.message_id,
            "at": _iso(row.bounced_at if kind == "bounced" else row.sent_at) or "",
        }
        if kind == "bounced":
            fields |= {"bounce_type": "hard", "reason": row.bounce_reason or ""}
        await self.acts.redis.xadd(self.acts.settings.events_stream, fields)
        return row

    # -- the call -------------------------------------------------------------------------------

    async def run(self) -> DeliverOutput:
        if not self.is_test and self.lead_id is None:
            raise ApplicationError("lead_id is required", type="BadInput", non_retryable=True)
        async with self.db.tenant_session(self.tenant_id) as session:
            repo = DeliveryRepository(session)
            self.ctx = await repo.step_context(self.campaign_id, self.step_id, self.lead_id)
            if self.ctx is None:
                return self._out(OUTCOME_STOPPED, "not_found")
            if self.ctx.step.step_type != "email":
                raise ApplicationError(
                    "not an e-mail step", type="NotAnEmailStep", non_retryable=True
                )
            if not self.is_test and self.ctx.lead is None:
                return self._out(OUTCOME_STOPPED, "lead_stopped")
            capacity = CapacityRepository(session)
            self.month_limit = await capacity.month_limit()
            await self._choose_content(repo)
            existing: Reservation | None = None
            if not self.is_test:
                existing = await OutboxRepository(session).find_by_key(
                    self.campaign_id, self.lead_id, self.step_id
                )
            rotation: list[MailboxCapacity] = []
            if existing is not None and existing.status not in ("reserved", "deferred"):
                mailbox_ids = []  # settled below
            elif existing is not None and existing.status == "reserved":
                mailbox_ids = [existing.email_account_id]
            elif self.data.mailbox_id:
                mailbox_ids = [UUID(self.data.mailbox_id)]
            else:
                rotation = await capacity.campaign_rotation(self.campaign_id, self.month_limit)
                mailbox_ids = [c.mailbox_id for c in rotation if c.allowed > 0]
            mailboxes = await self._load(repo, mailbox_ids)
            if self.is_test:
                # A retry of this test send: its Message-ID is on the domain of whichever
                # campaign mailbox took it, full or not by now.
                known = await self._load(repo, [c.mailbox_id for c in rotation])
                existing = await repo.find_by_message_ids(
                    [self._message_id(m) for m in {**known, **mailboxes}.values()]
                )
                if existing is not None and existing.status == "reserved":
                    mailbox_ids = [existing.email_account_id]
                    mailboxes = await self._load(repo, mailbox_ids)
        if existing is not None:
            settled = await self._settled(existing)
            if settled is not None:
                return settled
        if not mailbox_ids or not mailboxes:
            return self._no_mailbox(rotation)
        # A follow-up's sticky mailbox, or the one a reserved row already holds slots of.
        pinned = bool(self.data.mailbox_id) or (
            existing is not None and existing.status == "reserved"
        )
        refused: Refused | None = None
        for mailbox_id in mailbox_ids:
            mailbox = mailboxes.get(mailbox_id)
            if mailbox is None:
                continue
            host = str(mailbox.ip.vps_id) if mailbox.ip is not None else None
            if host != self.acts.vps_id:
                # Only the host holding the domain's IP can send from it: before any slot.
                return self._out(
                    OUTCOME_DEFERRED,
                    REASON_OTHER_HOST,
                    mailbox_id=str(mailbox_id),
                    host_vps_id=host,
                )
            built = await self._build(mailbox, existing)
            try:
                async with self.db.tenant_session(self.tenant_id) as session:
                    row = await OutboxRepository(session).reserve(built.request)
            except Refused as exc:
                refused = exc
                if exc.reason in MAILBOX_REASONS and not pinned:
                    continue
                return await self._refused(exc, mailbox_id)
            if not row.created_now:
                settled = await self._settled(row)
                if settled is not None:
                    return settled
                if (row.email_account_id, row.message_id) != (mailbox_id, built.request.message_id):
                    # Reserved meanwhile by another attempt, on another mailbox: the retry
                    # finds the row and follows it.
                    raise ApplicationError("the row changed meanwhile", type="ConcurrentChange")
            if row.attempts > 0:
                return await self._resolve(row, mailbox, built)
            return await self._send(row, mailbox, built)
        if refused is not None:
            return await self._refused(refused, mailbox_ids[-1])
        return self._no_mailbox(rotation)

    @staticmethod
    async def _load(repo: DeliveryRepository, mailbox_ids: list[UUID]) -> dict[UUID, Mailbox]:
        mailboxes = {}
        ips = IpAddressRepository(repo.session)
        for mailbox_id in mailbox_ids:
            loaded = await repo.mailbox(mailbox_id)
            if loaded is not None:
                account, domain = loaded
                ip = await ips.sending_ip(domain.id)
                mailboxes[mailbox_id] = Mailbox(account, domain, ip)
        return mailboxes

    def _no_mailbox(self, rotation: list[MailboxCapacity]) -> DeliverOutput:
        """Nothing in the rotation can send now: the limit that opens first, and when."""
        active = [c for c in rotation if c.active]
        if not active:
            return self._deferred("no_mailbox")
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        first = min(active, key=lambda c: c.retry_at() or far)
        return self._deferred(first.limited_by or "no_mailbox", first.retry_at())

    async def _refused(self, exc: Refused, mailbox_id: UUID) -> DeliverOutput:
        if exc.reason in STOPPING_REASONS:
            return self._out(OUTCOME_STOPPED, exc.reason)
        if exc.reason == "concurrent_change":  # another attempt re-reserved it meanwhile
            raise ApplicationError("the row changed meanwhile", type="ConcurrentChange")
        retry_at = exc.retry_at
        if retry_at is None:
            async with self.db.tenant_session(self.tenant_id) as session:
                caps = await CapacityRepository(session).mailboxes(
                    [mailbox_id], campaign_id=self.campaign_id, month_limit=self.month_limit
                )
            retry_at = caps[0].retry_at(exc.reason) if caps else None
        return self._deferred(exc.reason, retry_at)

    # -- building -------------------------------------------------------------------------------

    async def _choose_content(self, repo: DeliveryRepository) -> None:
        assert self.ctx is not None
        step = self.ctx.step
        variant = pick_variant(self.ctx.variants, self.data.variant_draw)
        template_id = step.template_id
        subject = step.subject_override
        if variant is not None:
            self.variant_id = variant.id
            template_id = variant.template_id or template_id
            subject = variant.subject or subject
        if template_id is None:
            raise TemplateRenderError("the step has no template")
        self.source = await repo.template(template_id)
        if self.source is None:
            raise TemplateRenderError("the step's template does not exist")
        self.subject_source = subject or self.source.subject

    def _message_id(self, mailbox: Mailbox) -> str:
        lead = f"test:{self.test_key}" if self.is_test else str(self.lead_id)
        return outbound_message_id(
            str(self.tenant_id), str(self.campaign_id), lead, str(self.step_id),
            mailbox.domain.domain,
        )  # fmt: skip

    async def _build(self, mailbox: Mailbox, existing: Reservation | None) -> Built:
        assert self.ctx is not None and self.source is not None
        account, domain = mailbox.account, mailbox.domain
        message_id = existing.message_id if existing is not None else self._message_id(mailbox)
        lead = self.ctx.lead
        to = self.data.test_to if self.is_test else (lead.email if lead else None)
        if not to:
            raise ApplicationError("no recipient", type="BadInput", non_retryable=True)
        fields = {**lead.model_dump(), "custom": lead.custom_fields} if lead else SAMPLE_LEAD
        from_name = self.ctx.step.from_name_override or account.from_name
        sender = {"name": from_name or "", "email": account.email, "signature": account.signature}
        context = context_for(fields, sender, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER)
        seed = f"{self.lead_id or 'sample'}:{self.step_id}"
        subject_source, body_source = self.subject_source, self.source.body

        def render_both() -> tuple[str, str]:  # CPU-bound: off the event loop
            subject = render(subject_source, context, seed + ":subject", html=False)
            return " ".join(subject.split()), render(body_source, context, seed, html=True)

        subject, html = await asyncio.to_thread(render_both)
        thread: list[tuple[UUID | None, str]] = []
        if self.data.thread_message_id:
            thread = [(None, self.data.thread_message_id)]
            if lead is not None:
                async with self.db.tenant_session(self.tenant_id) as session:
                    earlier = await DeliveryRepository(session).thread(
                        self.campaign_id, lead.id, self.data.thread_message_id, self.step_id
                    )
                if earlier and earlier[0][1] == self.data.thread_message_id:
                    thread = []
                thread += earlier
        dkim = None
        if domain.dkim_selector and domain.vault_key_path:
            private = await self.acts.dkim_private_key(domain)
            dkim = DkimKey(domain.domain, domain.dkim_selector, private)
        track = self.ctx.campaign.tracking_enabled
        to_name = None
        if lead is not None and not self.is_test:
            to_name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or None
        spec = MessageSpec(
            tenant_id=str(self.tenant_id),
            message_id=message_id,
            from_email=account.email,
            to_email=to,
            subject=subject,
            html=html,
            date=dt.datetime.now(dt.UTC),
            tracking_base_url=f"https://{tracking_host(domain.domain)}",
            from_name=from_name,
            to_name=to_name,
            thread=tuple(mid for _, mid in thread),
            track_opens=track,
            track_clicks=track,
        )
        built = build_message(spec, await self.acts.token_key(), dkim)
        jitter = random.uniform(0, max(account.gap_jitter_seconds, 0))
        request = SendRequest(
            tenant_id=self.tenant_id,
            campaign_id=self.campaign_id,
            lead_id=lead.id if lead is not None else None,
            step_id=self.step_id,
            email_account_id=account.id,
            message_id=message_id,
            to_email=to,
            address_hash=address_hash(to),
            to_domain=to.rpartition("@")[2].lower(),
            variant_id=self.variant_id,
            subject=thread_subject(subject, spec.thread),
            from_email=account.email,
            in_reply_to=thread[-1][1] if thread else None,
            parent_message_id=thread[-1][0] if thread else None,
            month_limit=self.month_limit,
            gap_seconds=max(account.min_gap_seconds, 0) + jitter,
            is_test=self.is_test,
        )
        return Built(built.raw, request)

    # -- sending --------------------------------------------------------------------------------

    async def _send(self, row: Reservation, mailbox: Mailbox, built: Built) -> DeliverOutput:
        account = mailbox.account
        creds = await self.acts.credentials(account)
        server = ServerSettings.of(account.smtp_settings, mailbox.ip)
        req = built.request
        async with self.acts.connections.hold(
            str(account.id), server, server.username or account.email, creds.smtp_password
        ) as link:
            try:
                await link.connect()
            except SmtpSendError as exc:  # before MAIL FROM: nothing was sent
                async with self.db.tenant_session(self.tenant_id) as session:
                    return await self._failed(session, row, account, req, exc.failure)
            try:
                async with self.db.tenant_session(self.tenant_id) as session:
                    attempt = await OutboxRepository(session).mark_attempt(row.id)
            except Refused:  # no longer reserved: another attempt settled it
                return await self._after_race(row)
            async with self.db.tenant_session(self.tenant_id) as session:
                outbox = OutboxRepository(session)
                await outbox.lock_campaign_shared(self.campaign_id)
                check = await outbox.recheck(row.id, req.address_hash, req.to_domain)
                if check.row_status != "reserved":
                    step = "race"
                elif check.attempts != attempt:
                    step = "resolve"  # another attempt counted itself after ours: ask first
                elif check.blocked_by is not None:
                    await outbox.defer(row.id, check.blocked_by)
                    stopped = check.blocked_by in STOPPING_REASONS
                    return self._out(
                        OUTCOME_STOPPED if stopped else OUTCOME_DEFERRED, check.blocked_by
                    )
                else:
                    try:
                        await link.send(account.email, [req.to_email], built.raw)
                    except SmtpSendError as exc:
                        failed = await self._failed(session, row, account, req, exc.failure)
                        if failed.reason != "bounced":
                            return failed
                        step = "bounced"
                    else:
                        await outbox.mark_sent(row.id)
                        step = "sent"
        if step == "sent":  # committed: now the event
            return await self._sent(row.id)
        if step == "bounced":
            return await self._bounced(row.id)
        if step == "resolve":
            return await self._resolve(row, mailbox, built)
        return await self._after_race(row)

    async def _failed(
        self,
        session: AsyncSession,
        row: Reservation,
        account: EmailAccount,
        req: SendRequest,
        failure: SmtpFailure,
    ) -> DeliverOutput:
        """The SMTP failure's outcome, written in the send transaction."""
        outbox = OutboxRepository(session)
        detail = f"{failure.stage}: {failure.code} {' '.join(failure.message.split())}"[:500]
        who = blame(failure.code, failure.message, failure.stage, failure.answered)
        # The reply's text may name the recipient: it goes to the row, not to the log.
        log.info("send %s: %s %s (%s)", row.id, failure.stage, failure.code, who.value)
        if who is Blame.RECIPIENT:
            await outbox.mark_bounced(row.id, detail)
            if not req.is_test and req.lead_id is not None:
                await DeliveryRepository(session).mark_lead_bounced(req.lead_id)
                await SuppressionRepository(session).suppress_address(
                    self.tenant_id, req.to_email, "bounced", {"smtp": detail}
                )
            return self._out(
                OUTCOME_STOPPED, "bounced", mailbox_id=str(account.id), outbox_id=str(row.id)
            )
        if who is Blame.AMBIGUOUS:
            # The server may have the message: the row stays reserved with its attempt
            # counted, and the next call asks the mailbox before anything else.
            return self._deferred("smtp_transient")
        await outbox.defer(row.id, detail)
        if who is Blame.AUTHENTICATION:
            await DeliveryRepository(session).record_authentication_failure(
                self.tenant_id, account.id, detail
            )
            return self._deferred("mailbox_failure")
        if who is Blame.MAILBOX:
            return self._deferred("mailbox_failure")
        return self._deferred("smtp_transient")

    async def _after_race(self, row: Reservation) -> DeliverOutput:
        async with self.db.tenant_session(self.tenant_id) as session:
            status, attempts = await DeliveryRepository(session).row_status(row.id)
        current = Reservation(row.id, row.message_id, status, row.email_account_id, attempts, False)
        settled = await self._settled(current)
        if settled is not None:
            return settled
        # Deferred (or reserved again) by another attempt: the workflow calls again.
        return self._deferred("smtp_transient")

    # -- resolving ------------------------------------------------------------------------------

    async def _resolve(self, row: Reservation, mailbox: Mailbox, built: Built) -> DeliverOutput:
        """A row an earlier attempt may have sent: ask the mailbox before anything else."""
        async with self.db.tenant_session(self.tenant_id) as session:
            # Waits for an attempt still in flight (it holds the row until its outcome).
            status, _ = await DeliveryRepository(session).row_status(row.id, wait=True)
        if status != "reserved":
            return await self._after_race(row)
        account = mailbox.account
        found = await self._ask_sent_folder(account, row.message_id)
        if found is None:
            return await self._unknown(row, "the mailbox's Sent folder cannot be searched")
        if found == "unreachable":
            return self._deferred("smtp_transient")
        if found == "found":
            async with self.db.tenant_session(self.tenant_id) as session:
                status, _ = await DeliveryRepository(session).row_status(row.id, wait=True)
                if status == "reserved":
                    await OutboxRepository(session).mark_sent(row.id)
            if status not in ("reserved", "sent"):
                return await self._after_race(row)
            return await self._sent(row.id)
        if self._keeps_copies(account):
            # Definitively not in a Sent folder that holds every message sent: never sent.
            return await self._send(row, mailbox, built)
        return await self._unknown(row, "not in the Sent folder, which may not keep copies")

    async def _unknown(self, row: Reservation, reason: str) -> DeliverOutput:
        async with self.db.tenant_session(self.tenant_id) as session:
            await OutboxRepository(session).mark_unknown(row.id, reason)
        return await self._after_race(row)

    def _keeps_copies(self, account: EmailAccount) -> bool:
        smtp = account.smtp_settings or {}
        if smtp.get("saves_sent_copy") is True:
            return True
        settings = self.acts.settings
        return str(smtp.get("host")) in (settings.smtp_sink_host, "localhost") and str(
            smtp.get("port")
        ) == str(settings.smtp_sink_port)

    async def _ask_sent_folder(self, account: EmailAccount, message_id: str) -> str | None:
        """`found`, `absent`, `unreachable`, or None when the mailbox cannot be asked."""
        imap = account.imap_settings or {}
        if not imap.get("host") or not imap.get("port"):
            return None
        creds: Credentials = await self.acts.credentials(account)
        server = ServerSettings.of(imap)
        try:
            found = await sent_folder_has(
                server, server.username or account.email, creds.imap_password, message_id
            )
        except imaplib.IMAP4.error:  # the login or the search was refused
            return None
        except (OSError, ssl.SSLError):
            return "unreachable"
        return "found" if found else "absent"


__all__ = ["DeliveryActivities"]
