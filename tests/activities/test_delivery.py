"""`deliver_step` against real services: Postgres with row-level security, Vault (the
mailbox's password and the domain's DKIM key), Redis (the `sent` events), Dovecot (the Sent
folder a retry asks), and an aiosmtpd server with AUTH that answers what each test scripts
for a recipient (at RCPT or at DATA), counting what it accepts."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from redis.asyncio import Redis
from sqlalchemy import text
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import delivery
from activities.delivery import DeliveryActivities
from activities.interfaces.delivery import DELIVER_STEP, DeliverInput, DeliverOutput
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from penguinmails.db import Database
from penguinmails.domains import add_domain
from penguinmails.leads.emails import address_hash
from penguinmails.mail.message import outbound_message_id
from penguinmails.mailboxes import add_mailbox
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.ip_addresses import IpAddressRepository
from penguinmails.repositories.outbox import OutboxRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.fixtures.campaigns import assign_loopback_ip
from tests.fixtures.ip_pool import empty_pool, shared_ip

PASSWORD = "mailbox-password"


@dataclass
class ScriptedSmtp:
    """Accepts every message unless `answers` scripts a reply for a recipient: `("rcpt",
    "550 5.1.1 ...")`, `("data", "554 5.7.1 ...")`, `("drop", "")`: takes the message, then
    drops the connection before its reply, or `("hold", "")`: takes it once `release` is set
    (`arrived` says it is there). With `sent_folders`, the sender's copy goes
    to its Sent folder, as providers that keep copies do."""

    host: str
    port: int
    users: dict[str, str] = field(default_factory=dict)
    answers: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    # Per message accepted: the client's address and the name it greeted with (EHLO).
    origins: list[tuple[str, str]] = field(default_factory=list)
    sent_folders: Dovecot | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    controller: Any = None

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = self.users.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        stage, reply = self.answers.get(address.lower(), ("", ""))
        if stage == "rcpt":
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            stage, reply = self.answers.get(rcpt.lower(), ("", ""))
            if stage == "data":
                return reply
        if any(self.answers.get(r.lower(), ("",))[0] == "hold" for r in envelope.rcpt_tos):
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        raw = envelope.original_content
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
        self.origins.append((str(session.peer[0]), str(session.host_name)))
        folders = self.sent_folders
        if folders is not None and folders.has_user(envelope.mail_from.lower()):
            folders.deliver(envelope.mail_from.lower(), raw, "Sent")
        if any(self.answers.get(r.lower(), ("",))[0] == "drop" for r in envelope.rcpt_tos):
            server.transport.close()  # the 250 never reaches the client
        return "250 2.0.0 Queued"

    def received(self, message_id: str) -> list[Message]:
        found = [message_from_bytes(raw) for _, _, raw in self.messages]
        return [m for m in found if m["Message-ID"] == message_id]

    def origin(self, message_id: str) -> tuple[str, str]:
        """(client address, EHLO name) of the one message with this Message-ID."""
        [found] = [
            origin
            for (_, _, raw), origin in zip(self.messages, self.origins, strict=True)
            if message_from_bytes(raw)["Message-ID"] == message_id
        ]
        return found


@pytest.fixture(scope="module")
def smtp() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp("127.0.0.1", free_port())
    server.controller = Controller(
        server,
        hostname=server.host,
        port=server.port,
        authenticator=server.authenticate,
        auth_require_tls=False,
        ready_timeout=10,
    )
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
async def events(settings: Settings, redis_url: str) -> AsyncIterator[tuple[Settings, Redis]]:
    """Settings with a stream of this test's own, and a client to read it."""
    client = Redis.from_url(redis_url)
    mine = settings.model_copy(update={"events_stream": f"test-events-{uuid.uuid4().hex}"})
    yield mine, client
    await client.delete(mine.events_stream)
    await client.aclose()


@pytest.fixture
async def acts(
    db: Database, secret_store: SecretStore, events: tuple[Settings, Redis]
) -> AsyncIterator[DeliveryActivities]:
    settings, client = events
    activities = DeliveryActivities(db, secret_store, settings, redis=client)
    yield activities
    await activities.connections.close()


@dataclass
class World:
    tenant_id: UUID
    company_id: UUID
    domain: str
    campaign_id: UUID
    steps: list[UUID]
    mailboxes: list[tuple[UUID, str]] = field(default_factory=list)
    leads: list[tuple[UUID, str]] = field(default_factory=list)

    def input(self, lead: int = 0, step: int = 0, **kw: Any) -> DeliverInput:
        return DeliverInput(
            tenant_id=str(self.tenant_id),
            campaign_id=str(self.campaign_id),
            lead_id=str(self.leads[lead][0]) if lead is not None else "",
            step_id=str(self.steps[step]),
            **kw,
        )

    def message_id(self, lead: int = 0, step: int = 0) -> str:
        return outbound_message_id(
            str(self.tenant_id), str(self.campaign_id), str(self.leads[lead][0]),
            str(self.steps[step]), self.domain,
        )  # fmt: skip


BODY = (
    "<html><body><p>{Hi|Hello} {{ first_name }}, about {{ company }}: "
    "<a href='https://acme.test/offer'>our offer</a>.</p>{{ sender.name }}</body></html>"
)


async def _world(
    db: Database,
    store: SecretStore,
    settings: Settings,
    conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
    dovecot: Dovecot,
    *,
    mailboxes: int = 1,
    leads: int = 3,
    daily_cap: int = 50,
    timezone: str = "UTC",
    saves_sent_copy: bool = False,
) -> World:
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("Delivery Co")
    name = f"d{uuid.uuid4().hex[:10]}.example.test"
    domain = await add_domain(db, store, settings, tenant.id, name)
    async with db.tenant_session(tenant.id) as session:
        key = await ContentRepository(session).put(tenant.id, BODY.encode(), "text/html")
    template_id = await conn.fetchval(
        "INSERT INTO templates (id, tenant_id, name, subject, content_storage_key) "
        "VALUES (gen_random_uuid(), $1, 'Intro', 'Quick question, {{ first_name }}', $2) "
        "RETURNING id",
        tenant.id,
        key,
    )
    campaign_id = await conn.fetchval(
        "INSERT INTO campaigns (id, tenant_id, company_id, name, status) "
        "VALUES (gen_random_uuid(), $1, $2, 'Q4', 'sending') RETURNING id",
        tenant.id,
        domain.company_id,
    )
    steps = []
    for order in (1, 2):
        steps.append(
            await conn.fetchval(
                "INSERT INTO campaign_sequence_steps (id, tenant_id, campaign_id, step_order, "
                "step_type, template_id) VALUES (gen_random_uuid(), $1, $2, $3, 'email', $4) "
                "RETURNING id",
                tenant.id,
                campaign_id,
                order,
                template_id,
            )
        )
    world = World(tenant.id, domain.company_id, name, campaign_id, steps)
    for n in range(mailboxes):
        email = f"sender{n}@{name}"
        account = await add_mailbox(
            db,
            store,
            tenant.id,
            email=email,
            smtp_password=PASSWORD,
            imap_password=PASSWORD,
            from_name=f"Sender {n}",
            smtp_settings={"host": smtp.host, "port": smtp.port, "security": "none",
                           "saves_sent_copy": saves_sent_copy},
            imap_settings={"host": dovecot.host, "port": dovecot.port, "security": "none"},
        )  # fmt: skip
        await conn.execute(
            "UPDATE email_accounts SET status = 'active', daily_cap = $2, timezone = $3, "
            "min_gap_seconds = 0, gap_jitter_seconds = 0 WHERE id = $1",
            account.id,
            daily_cap,
            timezone,
        )
        await conn.execute(
            "INSERT INTO campaign_mailboxes (id, tenant_id, campaign_id, email_account_id) "
            "VALUES (gen_random_uuid(), $1, $2, $3)",
            tenant.id,
            campaign_id,
            account.id,
        )
        smtp.users[email] = PASSWORD
        dovecot.add_user(email, PASSWORD)
        world.mailboxes.append((account.id, email))
    for _ in range(leads):
        email = f"lead-{uuid.uuid4().hex[:10]}@example.org"
        lead_id = await conn.fetchval(
            "INSERT INTO leads (id, tenant_id, email, first_name, company) "
            "VALUES (gen_random_uuid(), $1, $2, 'Grace', 'Hopper Inc') RETURNING id",
            tenant.id,
            email,
        )
        world.leads.append((lead_id, email))
    return world


@pytest.fixture
def make_world(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
    dovecot: Dovecot,
) -> Callable[..., Awaitable[World]]:
    """A tenant ready to send on the session's services, shaped by `_world`'s options."""

    async def make(**options: Any) -> World:
        return await _world(db, secret_store, settings, admin_conn, smtp, dovecot, **options)

    return make


@pytest.fixture
async def world(make_world: Callable[..., Awaitable[World]]) -> World:
    return await make_world()


async def _deliver(acts: DeliveryActivities, data: DeliverInput) -> DeliverOutput:
    return await ActivityEnvironment().run(acts.deliver_step, data)


async def _sent_today(conn: asyncpg.Connection, mailbox_id: UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(sent_count), 0) FROM mailbox_daily_counters "
            "WHERE email_account_id = $1",
            mailbox_id,
        )
    )


async def _row(conn: asyncpg.Connection, message_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT * FROM inbox_message_refs WHERE message_id = $1 AND direction = 'outbound'",
        message_id,
    )


async def _stream(client: Redis, settings: Settings) -> list[dict[Any, Any]]:
    entries: Any = await client.xrange(settings.events_stream)
    return [dict(fields) for _, fields in entries]


def _html(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    payload: Any = part.get_payload(decode=True)
    return str(payload.decode())


# --- sending -----------------------------------------------------------------------------------


async def test_a_send_lands_once_with_its_variant_and_unsubscribe_headers_and_a_retry_returns_it(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    admin_conn: asyncpg.Connection,
    events: tuple[Settings, Redis],
) -> None:
    # Two variants: the draw 0.8 falls in the second (weights 1 and 3: [0.25, 1)).
    variant_ids = []
    for position, subject in ((1, "Variant A"), (2, "Variant B for {{ first_name }}")):
        variant_ids.append(
            await admin_conn.fetchval(
                "INSERT INTO campaign_step_variants (id, tenant_id, campaign_id, step_id, "
                "position, label, subject, weight) VALUES (gen_random_uuid(), $1, $2, $3, $4, "
                "$5, $6, $7) RETURNING id",
                world.tenant_id,
                world.campaign_id,
                world.steps[0],
                position,
                f"v{position}",
                subject,
                1 if position == 1 else 3,
            )
        )
    out = await _deliver(acts, world.input(variant_draw=0.8))
    message_id = world.message_id()
    assert (out.outcome, out.message_id, out.mailbox_id) == (
        "sent",
        message_id,
        str(world.mailboxes[0][0]),
    )
    assert out.variant_id == str(variant_ids[1])
    [received] = smtp.received(message_id)
    assert received["Subject"] == "Variant B for Grace"
    assert received["To"] == f"Grace <{world.leads[0][1]}>"
    assert received["From"] == f"Sender 0 <{world.mailboxes[0][1]}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"https://track.{world.domain}/u/" in received["List-Unsubscribe"]
    assert f"d={world.domain};" in "".join(str(received["DKIM-Signature"]).split())
    assert received["In-Reply-To"] is None
    body = _html(received)
    assert "Grace, about Hopper Inc" in body and "Sender 0" in body
    assert f"https://track.{world.domain}/t/c/" in body  # tracking on: links rewritten
    row = await _row(admin_conn, message_id)
    assert (row["status"], row["attempts"], row["variant_id"]) == ("sent", 1, variant_ids[1])

    settings, client = events
    [event] = await _stream(client, settings)
    assert event[b"id"] == str(row["id"]).encode() and event[b"type"] == b"sent"
    assert event[b"variant"] == str(variant_ids[1]).encode()
    assert event[b"message_id"] == message_id.encode()

    # A retry (Temporal's at-least-once) finds the row sent: no second SMTP transaction,
    # and the same event again under the same id.
    again = await _deliver(acts, world.input(variant_draw=0.8))
    assert (again.outcome, again.outbox_id) == ("sent", out.outbox_id)
    assert len(smtp.received(message_id)) == 1
    assert [e[b"id"] for e in await _stream(client, settings)] == [event[b"id"]] * 2
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 1


async def test_a_follow_up_threads_under_the_first_message_on_the_sticky_mailbox(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
) -> None:
    world = await make_world(mailboxes=2)
    await admin_conn.execute(
        "UPDATE campaigns SET tracking_enabled = false WHERE id = $1", world.campaign_id
    )
    first = await _deliver(acts, world.input())
    assert first.outcome == "sent" and first.mailbox_id is not None
    follow = await _deliver(
        acts,
        world.input(step=1, mailbox_id=first.mailbox_id, thread_message_id=first.message_id),
    )
    assert (follow.outcome, follow.mailbox_id) == ("sent", first.mailbox_id)
    [received] = smtp.received(world.message_id(step=1))
    assert received["In-Reply-To"] == first.message_id
    assert received["References"] == first.message_id
    assert received["Subject"] == "Re: Quick question, Grace"
    assert "https://acme.test/offer" in _html(received)  # untracked
    row = await _row(admin_conn, world.message_id(step=1))
    assert row["in_reply_to"] == first.message_id
    assert row["parent_message_id"] == UUID(first.outbox_id or "")


# --- sending from the domain's platform IP --------------------------------------------------------


async def test_a_mailbox_on_a_platform_ip_sends_from_it_greeting_with_its_ptr_name(
    acts: DeliveryActivities,
    world: World,
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
    secret_store: SecretStore,
    events: tuple[Settings, Redis],
) -> None:
    vps, address, ptr = await assign_loopback_ip(admin_conn, world.tenant_id, world.domain)
    mailbox_id = world.mailboxes[0][0]
    # A shared worker cannot send from the server's IP: it names the host, reserving nothing.
    routed = await _deliver(acts, world.input())
    assert (routed.outcome, routed.reason) == ("deferred", "other_host")
    assert (routed.host_vps_id, routed.mailbox_id) == (str(vps), str(mailbox_id))
    assert await _row(admin_conn, world.message_id()) is None
    assert await _sent_today(admin_conn, mailbox_id) == 0
    settings, client = events
    on_host = DeliveryActivities(acts.db, secret_store, settings, redis=client, vps_id=str(vps))
    try:
        out = await _deliver(on_host, world.input(mailbox_id=routed.mailbox_id))
        assert out.outcome == "sent"
        assert smtp.origin(world.message_id()) == (address, ptr)
        # The domain moved off the IP (no platform IP left): the server's worker hands it
        # back to the shared queue, whose connection leaves from wherever the OS picks.
        await admin_conn.execute(
            "UPDATE domain_ip_assignments SET status = 'expired' "
            "WHERE domain_id = (SELECT id FROM domains WHERE domain = $1)",
            world.domain,
        )
        back = await _deliver(on_host, world.input(lead=1))
        assert (back.outcome, back.reason, back.host_vps_id) == ("deferred", "other_host", None)
    finally:
        await on_host.connections.close()
    other = await _deliver(acts, world.input(lead=1))
    assert other.outcome == "sent"
    source, greeting = smtp.origin(world.message_id(lead=1))
    assert source == "127.0.0.1" and greeting != ptr


async def test_a_mailbox_on_a_shared_pool_ip_sends_from_the_pool_server(
    acts: DeliveryActivities,
    world: World,
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
    secret_store: SecretStore,
    events: tuple[Settings, Redis],
) -> None:
    await empty_pool(admin_conn)
    pool_ip = await shared_ip(admin_conn)  # a server of the platform's tenant
    async with acts.db.tenant_session(world.tenant_id) as session:
        domain_id = (
            await session.execute(
                text("SELECT id FROM domains WHERE domain = :d"), {"d": world.domain}
            )
        ).scalar_one()
        await IpAddressRepository(session).assign_shared(domain_id)
    # Routed to the pool server's own queue, like a dedicated IP's server.
    routed = await _deliver(acts, world.input())
    assert (routed.outcome, routed.reason) == ("deferred", "other_host")
    assert routed.host_vps_id == str(pool_ip.vps_id)
    settings, client = events
    on_host = DeliveryActivities(
        acts.db, secret_store, settings, redis=client, vps_id=str(pool_ip.vps_id)
    )
    try:
        out = await _deliver(on_host, world.input(mailbox_id=routed.mailbox_id))
    finally:
        await on_host.connections.close()
    assert out.outcome == "sent"
    assert smtp.origin(world.message_id()) == (pool_ip.address, pool_ip.helo_name)


# --- a retry after a crash -----------------------------------------------------------------------


async def _as_if_crashed_after_data(conn: asyncpg.Connection, message_id: str) -> None:
    """The row as a crash between the server's 250 and `mark_sent` leaves it."""
    await conn.execute(
        "UPDATE inbox_message_refs SET status = 'reserved', attempts = 1, sent_at = NULL "
        "WHERE message_id = $1",
        message_id,
    )


async def test_a_retry_after_a_crash_finds_the_copy_in_the_sent_folder_and_does_not_resend(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    out = await _deliver(acts, world.input())
    assert out.outcome == "sent"
    message_id = world.message_id()
    [(_, _, raw)] = [
        m for m in smtp.messages if message_from_bytes(m[2])["Message-ID"] == message_id
    ]
    dovecot.deliver(world.mailboxes[0][1], raw, "Sent")  # the provider's copy
    await _as_if_crashed_after_data(admin_conn, message_id)

    again = await _deliver(acts, world.input())
    assert (again.outcome, again.outbox_id) == ("sent", out.outbox_id)
    assert len(smtp.received(message_id)) == 1
    assert (await _row(admin_conn, message_id))["status"] == "sent"


async def test_a_connection_lost_in_data_is_resolved_through_the_sent_folder(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
) -> None:
    address = world.leads[0][1]
    smtp.answers[address] = ("drop", "")
    smtp.sent_folders = dovecot
    try:
        lost = await _deliver(acts, world.input())
    finally:
        smtp.sent_folders = None
        del smtp.answers[address]
    # The server took it but the reply was lost: not deferred (no slot given back), the
    # attempt stays counted on the reserved row.
    assert (lost.outcome, lost.reason) == ("deferred", "smtp_transient")
    message_id = world.message_id()
    row = await _row(admin_conn, message_id)
    assert (row["status"], row["attempts"]) == ("reserved", 1)
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 1
    # The next call asks the Sent folder and finds it: sent, not sent twice.
    again = await _deliver(acts, world.input())
    assert (again.outcome, again.outbox_id) == ("sent", str(row["id"]))
    assert len(smtp.received(message_id)) == 1


async def test_without_a_copy_and_a_mailbox_that_cannot_tell_the_outcome_is_unknown(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    out = await _deliver(acts, world.input())
    assert out.outcome == "sent"
    message_id = world.message_id()
    await _as_if_crashed_after_data(admin_conn, message_id)
    again = await _deliver(acts, world.input())
    assert (again.outcome, again.outbox_id) == ("unknown", out.outbox_id)
    assert len(smtp.received(message_id)) == 1
    assert (await _row(admin_conn, message_id))["status"] == "unknown"
    # Never resent automatically.
    assert (await _deliver(acts, world.input())).outcome == "unknown"
    assert len(smtp.received(message_id)) == 1


async def test_a_mailbox_that_keeps_copies_and_has_none_is_sent_again(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
) -> None:
    world = await make_world(saves_sent_copy=True)
    message_id = world.message_id()
    # An attempt was counted, then the worker died before DATA: the server never saw it,
    # and this mailbox's Sent folder would hold it if it had.
    row_id = await admin_conn.fetchval(
        "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, lead_id, "
        "step_id, direction, message_id, to_email, status, attempts, slot_day, slot_month) "
        "VALUES ($1, $2, $3, $4, $5, 'outbound', $6, $7, 'reserved', 1, "
        "CURRENT_DATE, date_trunc('month', CURRENT_DATE)::date) RETURNING id",
        world.tenant_id,
        world.mailboxes[0][0],
        world.campaign_id,
        world.leads[0][0],
        world.steps[0],
        message_id,
        world.leads[0][1],
    )
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.outbox_id) == ("sent", str(row_id))
    assert len(smtp.received(message_id)) == 1


# --- SMTP answers ------------------------------------------------------------------------------


async def test_a_4xx_at_rcpt_defers_and_gives_the_slots_back(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    smtp.answers[world.leads[0][1]] = ("rcpt", "451 4.2.1 Mailbox busy, try later")
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason, out.retry_at) == ("deferred", "smtp_transient", None)
    row = await _row(admin_conn, world.message_id())
    assert row["status"] == "deferred" and "451" in row["error_message"]
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 0
    assert (
        await admin_conn.fetchval(
            "SELECT sent_count FROM tenant_monthly_counters WHERE tenant_id = $1", world.tenant_id
        )
        == 0
    )
    # The next call, once the server takes it, sends the same row.
    del smtp.answers[world.leads[0][1]]
    again = await _deliver(acts, world.input())
    assert (again.outcome, again.outbox_id) == ("sent", str(row["id"]))
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 1


async def test_an_unreachable_server_defers_and_gives_the_slots_back(
    acts: DeliveryActivities, world: World, admin_conn: asyncpg.Connection
) -> None:
    await admin_conn.execute(
        "UPDATE email_accounts SET smtp_settings = jsonb_set(smtp_settings, '{port}', $2) "
        "WHERE id = $1",
        world.mailboxes[0][0],
        str(free_port()),
    )
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("deferred", "smtp_transient")
    row = await _row(admin_conn, world.message_id())
    assert (row["status"], row["attempts"]) == ("deferred", 0)  # never reached DATA
    assert "connect" in row["error_message"]
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 0


async def test_a_5_1_1_at_rcpt_bounces_and_suppresses_the_lead(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    admin_conn: asyncpg.Connection,
    events: tuple[Settings, Redis],
) -> None:
    lead_id, address = world.leads[0]
    smtp.answers[address] = ("rcpt", "550 5.1.1 No such user here")
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("stopped", "bounced")
    row = await _row(admin_conn, world.message_id())
    assert (row["status"], row["bounce_type"]) == ("bounced", "hard")
    assert await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", lead_id) == (
        "bounced"
    )
    assert (
        await admin_conn.fetchval(
            "SELECT reason FROM suppressions WHERE tenant_id = $1 AND kind = 'address' "
            "AND value = $2",
            world.tenant_id,
            address_hash(address),
        )
        == "bounced"
    )
    assert smtp.received(world.message_id()) == []
    # No DSN will come for a refusal at RCPT: the bounce goes to analytics from here.
    settings, client = events
    [event] = await _stream(client, settings)
    assert (event[b"type"], event[b"id"], event[b"bounce_type"]) == (
        b"bounced",
        str(row["id"]).encode(),
        b"hard",
    )
    assert b"5.1.1" in event[b"reason"]
    # A retry finds the row bounced: the same answer, the same event again.
    again = await _deliver(acts, world.input())
    assert (again.outcome, again.reason, again.outbox_id) == ("stopped", "bounced", out.outbox_id)
    assert [e[b"id"] for e in await _stream(client, settings)] == [event[b"id"]] * 2
    # The lead's next step is refused before SMTP.
    follow = await _deliver(acts, world.input(step=1, mailbox_id=out.mailbox_id))
    assert (follow.outcome, follow.reason) == ("stopped", "lead_stopped")


async def test_refusals_at_rcpt_trip_the_mailbox_and_campaign_breakers(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    admin_conn: asyncpg.Connection,
    temporal_client: Client,
    app_worker: Any,
) -> None:
    """A 5.1.1 at RCPT is a hard bounce no DSN will follow: the breakers count it as they
    count a DSN's. The mailbox pauses itself, and the campaign (its real workflow, on the
    real worker) is paused through its workflow, each with one notification."""
    from workflows.campaign import CampaignInput, CampaignState, CampaignWorkflow
    from workflows.names import TaskQueue, campaign_workflow_id, tenant_attributes

    mailbox_id, _ = world.mailboxes[0]
    for _ in range(19):  # 19 earlier sends of the campaign in the window
        await admin_conn.execute(
            "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, step_id, "
            "direction, message_id, to_email, subject, status, sent_at) VALUES ($1, $2, $3, $4, "
            "'outbound', $5, 'x@example.org', 's', 'sent', now())",
            world.tenant_id,
            mailbox_id,
            world.campaign_id,
            world.steps[0],
            f"<{uuid.uuid4().hex}@earlier.test>",
        )
    for lead_id, _ in world.leads:  # its leads mid-sequence: the workflow waits for room
        await admin_conn.execute(
            "INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, status, variant_draw) "
            "VALUES ($1, $2, $3, 'active', 0.5)",
            world.tenant_id,
            world.campaign_id,
            lead_id,
        )
    tenant, campaign = str(world.tenant_id), str(world.campaign_id)
    handle = await temporal_client.start_workflow(
        CampaignWorkflow.run,
        CampaignInput(tenant, campaign, state=CampaignState(status="sending"), window=3),
        id=campaign_workflow_id(tenant, campaign),
        task_queue=TaskQueue.CAMPAIGNS,
        search_attributes=tenant_attributes(tenant, campaign_id=campaign),
    )
    env = ActivityEnvironment(client=temporal_client)

    async def state() -> tuple[list[str], list[str], int]:
        box = await admin_conn.fetchval(
            "SELECT pause_reasons FROM email_accounts WHERE id = $1", mailbox_id
        )
        row = await admin_conn.fetchval(
            "SELECT pause_reasons FROM campaigns WHERE id = $1", world.campaign_id
        )
        told = await admin_conn.fetchval(
            "SELECT count(*) FROM notifications WHERE tenant_id = $1 "
            "AND type IN ('mailbox_breaker', 'campaign_breaker')",
            world.tenant_id,
        )
        return list(box), list(row), told

    try:
        smtp.answers[world.leads[0][1]] = ("rcpt", "550 5.1.1 No such user here")
        smtp.answers[world.leads[1][1]] = ("rcpt", "550 5.1.1 No such user here")
        first = await env.run(acts.deliver_step, world.input(lead=0))
        assert first.reason == "bounced"
        assert await state() == ([], [], 0)  # 1 of 20: 5%, not above it
        second = await env.run(acts.deliver_step, world.input(lead=1))
        assert second.reason == "bounced"  # 2 of 21
        for _ in range(200):  # the campaign's pause was asked for, not waited on
            if (await state())[1] == ["breaker"]:
                break
            await asyncio.sleep(0.05)
        assert await state() == (["breaker"], ["breaker"], 2)
        view = await handle.query(CampaignWorkflow.get_status)
        assert (view.status, view.pause_reasons) == ("paused", ["breaker"])
        message = await admin_conn.fetchval(
            "SELECT message FROM notifications WHERE tenant_id = $1 AND type = 'campaign_breaker'",
            world.tenant_id,
        )
        assert "sent 21 messages: 2 hard bounces (9.5%" in message
        # A retry of the bouncing send looks again and changes nothing.
        again = await env.run(acts.deliver_step, world.input(lead=1))
        assert again.reason == "bounced"
        await asyncio.sleep(0.5)
        assert await state() == (["breaker"], ["breaker"], 2)
    finally:
        await handle.terminate("test over")


async def test_a_5_7_1_at_data_is_the_mailbox_s_failure_never_the_lead_s(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    lead_id, address = world.leads[0]
    smtp.answers[address] = ("data", "554 5.7.1 Message rejected: spam content")
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("deferred", "mailbox_failure")
    assert await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", lead_id) == (
        "active"
    )
    assert not await admin_conn.fetchval(
        "SELECT count(*) FROM suppressions WHERE tenant_id = $1", world.tenant_id
    )
    row = await _row(admin_conn, world.message_id())
    assert row["status"] == "deferred" and "5.7.1" in row["error_message"]
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 0
    assert (
        await admin_conn.fetchval(
            "SELECT status FROM email_accounts WHERE id = $1", world.mailboxes[0][0]
        )
        == "active"
    )


async def test_a_refused_login_marks_the_mailbox_and_tells_the_tenant(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    mailbox_id, email = world.mailboxes[0]
    smtp.users[email] = "changed-by-the-provider"
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("deferred", "mailbox_failure")
    assert (
        await admin_conn.fetchval("SELECT status FROM email_accounts WHERE id = $1", mailbox_id)
        == "authentication_failed"
    )
    notes = await admin_conn.fetch(
        "SELECT type, severity, title FROM notifications WHERE tenant_id = $1", world.tenant_id
    )
    assert [(n["type"], n["severity"]) for n in notes] == [
        ("mailbox_authentication_failed", "error")
    ]
    assert email in notes[0]["title"]
    assert await _sent_today(admin_conn, mailbox_id) == 0
    # A follow-up on that sticky mailbox waits; a first touch has no other mailbox.
    follow = await _deliver(acts, world.input(lead=1, step=1, mailbox_id=str(mailbox_id)))
    assert (follow.outcome, follow.reason) == ("deferred", "mailbox_not_active")
    first = await _deliver(acts, world.input(lead=1))
    assert (first.outcome, first.reason) == ("deferred", "no_mailbox")


# --- capacity ----------------------------------------------------------------------------------


async def test_a_paused_mailbox_holds_its_follow_ups_and_first_touches_move_on(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
) -> None:
    world = await make_world(mailboxes=2)
    (a, _), (b, _) = world.mailboxes
    await admin_conn.execute(
        "UPDATE email_accounts SET pause_reasons = '{breaker}' WHERE id = $1", a
    )
    follow = await _deliver(acts, world.input(step=1, mailbox_id=str(a)))
    assert (follow.outcome, follow.reason, follow.retry_at) == (
        "deferred",
        "mailbox_not_active",
        None,
    )
    assert smtp.received(world.message_id(step=1)) == []
    first = await _deliver(acts, world.input(lead=1))
    assert (first.outcome, first.mailbox_id) == ("sent", str(b))


async def test_a_full_daily_cap_defers_to_the_mailbox_s_next_local_midnight(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
) -> None:
    world = await make_world(daily_cap=1, timezone="Asia/Tokyo")
    assert (await _deliver(acts, world.input(lead=0))).outcome == "sent"
    midnight = await admin_conn.fetchval(
        "SELECT (date_trunc('day', now() AT TIME ZONE 'Asia/Tokyo') + interval '1 day') "
        "AT TIME ZONE 'Asia/Tokyo'"
    )
    mailbox = str(world.mailboxes[0][0])
    for data in (world.input(lead=1), world.input(lead=1, step=1, mailbox_id=mailbox)):
        out = await _deliver(acts, data)
        assert (out.outcome, out.reason) == ("deferred", "mailbox_daily_cap")
        assert out.retry_at is not None and dt.datetime.fromisoformat(out.retry_at) == midnight
    assert midnight.astimezone(dt.timezone(dt.timedelta(hours=9))).hour == 0
    assert smtp.received(world.message_id(lead=1)) == []
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 1


async def test_the_campaign_s_limit_and_the_plan_s_month_defer_to_when_they_open(
    acts: DeliveryActivities, world: World, admin_conn: asyncpg.Connection
) -> None:
    await admin_conn.execute(
        "UPDATE campaigns SET daily_limit = 1, timezone = 'America/Los_Angeles' WHERE id = $1",
        world.campaign_id,
    )
    assert (await _deliver(acts, world.input(lead=0))).outcome == "sent"
    out = await _deliver(acts, world.input(lead=1))
    assert (out.outcome, out.reason) == ("deferred", "campaign_daily_limit")
    midnight = await admin_conn.fetchval(
        "SELECT (date_trunc('day', now() AT TIME ZONE 'America/Los_Angeles') + interval '1 day')"
        " AT TIME ZONE 'America/Los_Angeles'"
    )
    assert out.retry_at is not None and dt.datetime.fromisoformat(out.retry_at) == midnight

    await admin_conn.execute(
        "UPDATE campaigns SET daily_limit = NULL WHERE id = $1", world.campaign_id
    )
    plan = await admin_conn.fetchval(
        "INSERT INTO plans (id, plan_name, price, limits) VALUES (gen_random_uuid(), $1, 10, "
        "'{\"emails_per_month\": 1}') RETURNING id",
        f"plan-{uuid.uuid4().hex[:8]}",
    )
    await admin_conn.execute(
        "INSERT INTO subscriptions (id, tenant_id, plan_id, status) "
        "VALUES (gen_random_uuid(), $1, $2, 'active')",
        world.tenant_id,
        plan,
    )
    out = await _deliver(acts, world.input(lead=1))
    assert (out.outcome, out.reason) == ("deferred", "monthly_limit")
    first_of_next = await admin_conn.fetchval(
        "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') "
        "AT TIME ZONE 'UTC'"
    )
    assert out.retry_at is not None and dt.datetime.fromisoformat(out.retry_at) == first_of_next


async def test_a_paused_campaign_defers_its_sends(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    await admin_conn.execute(
        "UPDATE campaigns SET status = 'paused', pause_reasons = '{user}' WHERE id = $1",
        world.campaign_id,
    )
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("deferred", "campaign_not_sending")
    assert smtp.received(world.message_id()) == []
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 0


async def _enroll(conn: asyncpg.Connection, world: World, lead: int, status: str) -> None:
    await conn.execute(
        "INSERT INTO campaign_leads (tenant_id, campaign_id, lead_id, status, started_at, "
        "variant_draw) VALUES ($1, $2, $3, $4, now(), 0.5)",
        world.tenant_id,
        world.campaign_id,
        world.leads[lead][0],
        status,
    )


async def _set_enrollment(conn: asyncpg.Connection, world: World, lead: int, status: str) -> None:
    await conn.execute(
        "UPDATE campaign_leads SET status = $3 WHERE campaign_id = $1 AND lead_id = $2",
        world.campaign_id,
        world.leads[lead][0],
        status,
    )


async def test_a_paused_lead_is_refused_at_reserve_and_at_the_send_s_recheck(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    mailbox = world.mailboxes[0][0]
    await _enroll(admin_conn, world, 0, "paused")
    out = await _deliver(acts, world.input())
    assert (out.outcome, out.reason) == ("deferred", "lead_paused")
    assert await _row(admin_conn, world.message_id()) is None
    assert await _sent_today(admin_conn, mailbox) == 0

    # Paused after the reservation committed, while the send waits for the mailbox: the
    # re-check after the campaign lock reads the enrollment, gives the slots back, defers.
    await _set_enrollment(admin_conn, world, 0, "active")
    lock = acts.connections._locks.setdefault(str(mailbox), asyncio.Lock())
    await lock.acquire()
    try:
        sending = asyncio.ensure_future(_deliver(acts, world.input()))
        for _ in range(3000):
            if await _row(admin_conn, world.message_id()) is not None:
                break
            await asyncio.sleep(0.01)
        assert (await _row(admin_conn, world.message_id()))["status"] == "reserved"
        await _set_enrollment(admin_conn, world, 0, "paused")
    finally:
        lock.release()
    out = await sending
    assert (out.outcome, out.reason) == ("deferred", "lead_paused")
    assert (await _row(admin_conn, world.message_id()))["status"] == "deferred"
    assert await _sent_today(admin_conn, mailbox) == 0
    assert smtp.received(world.message_id()) == []

    # Resumed: the same step goes out, once.
    await _set_enrollment(admin_conn, world, 0, "active")
    out = await _deliver(acts, world.input())
    assert out.outcome == "sent"
    assert len(smtp.received(world.message_id())) == 1


async def test_a_removed_lead_is_stopped_at_the_send_s_recheck(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, admin_conn: asyncpg.Connection
) -> None:
    mailbox = world.mailboxes[0][0]
    await _enroll(admin_conn, world, 1, "active")
    lock = acts.connections._locks.setdefault(str(mailbox), asyncio.Lock())
    await lock.acquire()
    try:
        sending = asyncio.ensure_future(_deliver(acts, world.input(lead=1)))
        for _ in range(3000):
            if await _row(admin_conn, world.message_id(lead=1)) is not None:
                break
            await asyncio.sleep(0.01)
        await _set_enrollment(admin_conn, world, 1, "removed")
    finally:
        lock.release()
    out = await sending
    assert (out.outcome, out.reason) == ("stopped", "lead_stopped")
    assert smtp.received(world.message_id(lead=1)) == []
    assert await _sent_today(admin_conn, mailbox) == 0
    again = await _deliver(acts, world.input(lead=1))  # and at reserve
    assert (again.outcome, again.reason) == ("stopped", "lead_stopped")


async def test_rotation_picks_the_mailbox_with_the_most_capacity_left_and_spreads(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
) -> None:
    world = await make_world(mailboxes=3, leads=4, daily_cap=10)
    (a, _), (b, _), (c, _) = world.mailboxes
    for mailbox, used in ((a, 6), (b, 2), (c, 4)):
        await admin_conn.execute(
            "INSERT INTO mailbox_daily_counters (tenant_id, email_account_id, day, sent_count) "
            "VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date, $3)",
            world.tenant_id,
            mailbox,
            used,
        )
    picked = [(await _deliver(acts, world.input(lead=n))).mailbox_id for n in range(4)]
    # b has 8 left, then 7 against c's 6; then b and c both have 6 and c, used least
    # recently, goes first; then b (6) against c (5).
    assert picked == [str(b), str(b), str(c), str(b)]
    # Weights: a weighted mailbox wins with less room left (4 x 3 > 6 x 1).
    await admin_conn.execute(
        "UPDATE campaign_mailboxes SET weight = 3 WHERE email_account_id = $1", a
    )
    lead = await admin_conn.fetchval(
        "INSERT INTO leads (id, tenant_id, email) VALUES (gen_random_uuid(), $1, $2) RETURNING id",
        world.tenant_id,
        f"w-{uuid.uuid4().hex[:8]}@example.org",
    )
    out = await _deliver(
        acts,
        DeliverInput(str(world.tenant_id), str(world.campaign_id), str(lead), str(world.steps[0])),
    )
    assert out.mailbox_id == str(a)


async def test_a_test_send_counts_in_the_cap_and_stays_out_of_the_step_key(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
    events: tuple[Settings, Redis],
) -> None:
    world = await make_world(daily_cap=2)
    await admin_conn.execute(
        "UPDATE campaigns SET status = 'draft' WHERE id = $1", world.campaign_id
    )
    test = DeliverInput(
        str(world.tenant_id), str(world.campaign_id), "", str(world.steps[0]),
        test_to="owner@example.org", test_key="k1",
    )  # fmt: skip
    out = await _deliver(acts, test)
    assert out.outcome == "sent"
    [received] = smtp.received(out.message_id or "")
    assert received["Subject"] == "Quick question, Ada"  # sample data without a lead
    assert (await _deliver(acts, test)).outbox_id == out.outbox_id  # same key: same send
    assert len(smtp.received(out.message_id or "")) == 1
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 1

    await admin_conn.execute(
        "UPDATE campaigns SET status = 'sending' WHERE id = $1", world.campaign_id
    )
    real = await _deliver(acts, world.input())
    assert real.outcome == "sent" and real.outbox_id != out.outbox_id
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 2
    another = DeliverInput(
        str(world.tenant_id), str(world.campaign_id), "", str(world.steps[0]),
        test_to="owner@example.org", test_key="k2",
    )  # fmt: skip
    full = await _deliver(acts, another)
    assert (full.outcome, full.reason) == ("deferred", "mailbox_daily_cap")
    # The first test send's retry still finds it, its mailbox full or not.
    retry = await _deliver(acts, test)
    assert (retry.outcome, retry.outbox_id) == ("sent", out.outbox_id)
    settings_, client = events
    assert [e[b"id"] for e in await _stream(client, settings_)] == [str(real.outbox_id).encode()]


# --- concurrency -------------------------------------------------------------------------------


async def test_concurrent_sends_stay_within_the_cap_each_once(
    acts: DeliveryActivities,
    make_world: Callable[..., Awaitable[World]],
    admin_conn: asyncpg.Connection,
    smtp: ScriptedSmtp,
) -> None:
    world = await make_world(leads=10, daily_cap=4)
    outs = await asyncio.gather(*(_deliver(acts, world.input(lead=n)) for n in range(10)))
    sent = {o.message_id for o in outs if o.outcome == "sent"}
    assert len(sent) == 4, outs
    assert [(o.outcome, o.reason) for o in outs if o.outcome != "sent"] == [
        ("deferred", "mailbox_daily_cap")
    ] * 6
    for n in range(10):
        expected = 1 if world.message_id(lead=n) in sent else 0
        assert len(smtp.received(world.message_id(lead=n))) == expected
    assert await _sent_today(admin_conn, world.mailboxes[0][0]) == 4


async def _waiting_on_lock(conn: asyncpg.Connection, needle: str) -> bool:
    for _ in range(1000):
        if await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE $1",
            f"%{needle}%",
        ):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_pause_waits_for_the_send_in_flight_and_the_next_send_waits_for_resume(
    acts: DeliveryActivities, world: World, smtp: ScriptedSmtp, db: Database,
    admin_conn: asyncpg.Connection,
) -> None:  # fmt: skip
    address = world.leads[0][1]
    smtp.answers[address] = ("hold", "")
    smtp.arrived.clear()
    smtp.release.clear()
    order: list[str] = []

    async def pause() -> None:
        async with db.tenant_session(world.tenant_id) as session:
            await OutboxRepository(session).pause_campaign(world.campaign_id, "user", 10_000)
        order.append("paused")

    try:
        sending = asyncio.ensure_future(_deliver(acts, world.input()))
        assert await asyncio.to_thread(smtp.arrived.wait, 30)  # in DATA at the server
        pausing = asyncio.ensure_future(pause())
        assert await _waiting_on_lock(admin_conn, "pg_advisory_xact_lock(")
        assert order == []  # the pause waits for the send in flight
    finally:
        smtp.release.set()
    out = await sending
    order.append("sent")
    await pausing
    del smtp.answers[address]
    # The send in flight finished (its row written under the shared lock), the pause
    # committed after it.
    assert out.outcome == "sent" and sorted(order) == ["paused", "sent"]
    assert (await _row(admin_conn, world.message_id()))["status"] == "sent"
    after = await _deliver(acts, world.input(lead=1))
    assert (after.outcome, after.reason) == ("deferred", "campaign_not_sending")
    assert smtp.received(world.message_id(lead=1)) == []


# --- kill-safety ---------------------------------------------------------------------------------


async def test_a_send_heartbeats_while_its_smtp_exchange_is_held(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A short heartbeat timeout so a held DATA spans several beats.
    monkeypatch.setattr(delivery, "DELIVER_HEARTBEAT_TIMEOUT", dt.timedelta(seconds=0.3))
    address = world.leads[0][1]
    smtp.answers[address] = ("hold", "")
    smtp.arrived.clear()
    smtp.release.clear()
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    try:
        sending = asyncio.ensure_future(env.run(acts.deliver_step, world.input()))
        assert await asyncio.to_thread(smtp.arrived.wait, 30)  # in DATA at the server
        held_at = len(beats)
        for _ in range(3000):  # the beats go on while the server holds DATA
            if len(beats) >= held_at + 2:
                break
            await asyncio.sleep(0.01)
        assert len(beats) >= held_at + 2
    finally:
        smtp.release.set()
    out = await sending
    del smtp.answers[address]
    assert out.outcome == "sent"
    after = len(beats)
    await asyncio.sleep(0.5)
    assert len(beats) == after  # the beating stops with the call


async def test_a_cancelled_send_is_not_cut_and_its_retry_waits_for_its_outcome(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    admin_conn: asyncpg.Connection,
) -> None:
    # Temporal cancels a call whose heartbeat or start-to-close timeout passed; the SMTP
    # exchange it is in finishes anyway, and the retry answers its outcome without resending.
    address = world.leads[0][1]
    smtp.answers[address] = ("hold", "")
    smtp.arrived.clear()
    smtp.release.clear()
    env = ActivityEnvironment()
    try:
        first = asyncio.ensure_future(env.run(acts.deliver_step, world.input()))
        assert await asyncio.to_thread(smtp.arrived.wait, 30)
        env.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        retry = asyncio.ensure_future(_deliver(acts, world.input()))
        assert await _waiting_on_lock(admin_conn, "inbox_message_refs")  # on the held row
        assert not retry.done()
    finally:
        smtp.release.set()
    out = await retry
    del smtp.answers[address]
    message_id = world.message_id()
    row = await _row(admin_conn, message_id)
    assert (out.outcome, out.outbox_id) == ("sent", str(row["id"]))
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert len(smtp.received(message_id)) == 1
    await acts.close()  # waits for nothing left behind
    assert not acts._orphans


# --- through Temporal ----------------------------------------------------------------------------


@workflow.defn(sandboxed=False)
class OneSend:
    """Calls the activity by its name, as the lead-sequence workflow does."""

    @workflow.run
    async def run(self, data: DeliverInput) -> DeliverOutput:
        return await workflow.execute_activity(
            DELIVER_STEP,
            data,
            result_type=DeliverOutput,
            start_to_close_timeout=dt.timedelta(seconds=60),
        )


async def test_through_a_worker_with_the_encrypting_converter(
    acts: DeliveryActivities,
    world: World,
    smtp: ScriptedSmtp,
    temporal_client: Client,
) -> None:
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[OneSend],
        activities=[acts.deliver_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        out = await temporal_client.execute_workflow(
            OneSend.run, world.input(), id=f"one-send-{uuid.uuid4()}", task_queue=queue
        )
    assert isinstance(out, DeliverOutput)
    assert (out.outcome, out.message_id) == ("sent", world.message_id())
    assert len(smtp.received(world.message_id())) == 1
