"""Warmup exchanges through the real mail system: mailboxes of different tenants in the
warmup pool send to each other over SMTP (the development sink delivering into Dovecot),
tend their inboxes and spam folders over IMAP, and the interactions land once in the
analytics database with the sender's daily stats and reputation score."""

from __future__ import annotations

import contextlib
import imaplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import message_from_bytes
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput
from activities.interfaces.warmups import OTHER_HOST, ExchangeInput, ExchangeOutput
from activities.warmup_exchange import WarmupExchangeActivities
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from penguinmails.db import Database
from penguinmails.domains import add_domain
from penguinmails.mailboxes import add_mailbox
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.warmup_stats import WarmupStatsRepository
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.warmup import RampCurve
from penguinmails.warmup_exchange import HEADER, answers, compose
from tests.fixtures.campaigns import assign_loopback_ip

PASSWORD = "warm-pw"


@dataclass(frozen=True)
class Member:
    tenant_id: UUID
    mailbox_id: UUID
    email: str
    warmup_id: UUID


@pytest.fixture(autouse=True)
async def empty_pool(admin_conn: asyncpg.Connection) -> None:
    """The pool is platform-wide: members left by earlier tests (the test database outlives
    a test) would be drawn as partners. Each test starts with its own members only."""
    await admin_conn.execute("UPDATE warmups SET pool = false WHERE pool")


@pytest.fixture
def dev_sink(dovecot: Dovecot, tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "sink", port=free_port(), mailstore=dovecot).start()
    yield sink
    sink.stop()


async def _member(
    db: Database,
    store: SecretStore,
    settings: Settings,
    conn: asyncpg.Connection,
    dovecot: Dovecot,
    sink: SmtpSink,
    *,
    pool: bool = True,
) -> Member:
    async with db.admin_session() as session:
        tenant_id = (await TenantRepository(session).create("Warm Co")).id
    name = f"wx{uuid.uuid4().hex[:10]}.example.test"
    await add_domain(db, store, settings, tenant_id, name)
    email = f"kim@{name}"
    account = await add_mailbox(
        db,
        store,
        tenant_id,
        email=email,
        smtp_password=PASSWORD,
        imap_password=PASSWORD,
        from_name="Kim",
        smtp_settings={"host": sink.host, "port": sink.port, "security": "none"},
        imap_settings={"host": dovecot.host, "port": dovecot.port, "security": "none"},
    )
    await conn.execute("UPDATE email_accounts SET status = 'active' WHERE id = $1", account.id)
    dovecot.add_user(email, PASSWORD)
    async with db.tenant_session(tenant_id) as session:
        warmup = await WarmupRepository(session).create(
            tenant_id,
            RampCurve(start=6, growth_pct=20, target=60),
            date.today(),
            email_account_id=account.id,
            pool=pool,
        )
    return Member(tenant_id, account.id, email, warmup.id)


async def _round(acts: WarmupExchangeActivities, m: Member, sends: int | None) -> ExchangeOutput:
    out: ExchangeOutput = await ActivityEnvironment().run(
        acts.exchange_warmup, ExchangeInput(str(m.tenant_id), str(m.warmup_id), sends)
    )
    return out


def _folder(dovecot: Dovecot, user: str, folder: str) -> list[bytes]:
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    try:
        client.login(user, PASSWORD)
        typ, _ = client.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return []
        _, data = client.search(None, "ALL")
        found = []
        for num in data[0].split():
            _, parts = client.fetch(num, "(BODY.PEEK[] FLAGS)")
            found.append(parts[0][1] if isinstance(parts[0], tuple) else b"")
        client.logout()
        return found
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def _create_folder(dovecot: Dovecot, user: str, folder: str) -> None:
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    try:
        client.login(user, PASSWORD)
        typ, data = client.create(f'"{folder}"')
        assert typ == "OK", data
        client.logout()
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def _stats(db: Database, m: Member) -> tuple[int, int, int, int, int]:
    async with db.analytics_session(m.tenant_id) as session:
        days = await WarmupStatsRepository(session).days(m.mailbox_id, date(2000, 1, 1))
    return (
        sum(d.emails_sent for d in days),
        sum(d.opens_received for d in days),
        sum(d.replies_received for d in days),
        sum(d.rescued_from_spam for d in days),
        days[-1].reputation_score if days else 0,
    )


@pytest.fixture
def acts(db: Database, secret_store: SecretStore, settings: Settings) -> WarmupExchangeActivities:
    return WarmupExchangeActivities(db, secret_store, settings)


async def test_two_tenants_exchange_tend_rescue_and_answer_each_counted_once(
    acts: WarmupExchangeActivities,
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    dev_sink: SmtpSink,
) -> None:
    ada = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink)
    bo = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink)
    outsider = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink, pool=False)

    # Ada's round: the pool offers only Bo (not herself, not the mailbox outside the pool),
    # who takes all four messages in turn.
    out = await _round(acts, ada, 4)
    assert out.skipped is None and (out.sent, out.partners) == (4, 1)
    inbox = _folder(dovecot, bo.email, "INBOX")
    assert len(inbox) == 4 and all(HEADER.encode() in raw for raw in inbox)
    assert b"DKIM-Signature" in inbox[0]  # signed like campaign mail
    assert not _folder(dovecot, outsider.email, "INBOX")

    # One more genuine message lands in Bo's spam folder; a forged one in the inbox.
    key = await secret_store.get_or_create_codec_key(settings.warmup_key_path)
    spam = compose(key, ada.tenant_id, ada.mailbox_id, ada.email, bo.email, datetime.now(UTC))
    _create_folder(dovecot, bo.email, "Junk")
    dovecot.deliver(bo.email, spam.raw, "Junk")
    forged = compose(
        b"x" * 32, ada.tenant_id, ada.mailbox_id, ada.email, bo.email, datetime.now(UTC)
    )
    dovecot.deliver(bo.email, forged.raw)

    sent_ids = [str(message_from_bytes(raw)["Message-ID"]) for raw in inbox] + [spam.message_id]
    expected_answers = sum(answers(m) for m in sent_ids)
    out = await _round(acts, bo, 0)
    assert (out.received, out.rescued, out.replied, out.sent) == (5, 1, expected_answers, 0)
    # Filed: nothing left in Bo's inbox or spam folder, all six in the warmup folder.
    assert not _folder(dovecot, bo.email, "INBOX") and not _folder(dovecot, bo.email, "Junk")
    assert len(_folder(dovecot, bo.email, "Warmup")) == 6
    # Ada's stats: four sent by her round (the spam one was delivered by hand), five opened,
    # one rescued, the answers counted and sitting in her inbox, threaded.
    assert (await _stats(db, ada))[:4] == (4, 5, expected_answers, 1)
    assert 0 < (await _stats(db, ada))[4] <= 100
    answers_in = _folder(dovecot, ada.email, "INBOX")
    assert len(answers_in) == expected_answers
    assert all(str(message_from_bytes(a)["In-Reply-To"]) in sent_ids for a in answers_in)
    assert (await _stats(db, bo))[0] == expected_answers  # Bo's answers count as his sends

    # A repeated round finds nothing and counts nothing again.
    again = await _round(acts, bo, 0)
    assert (again.received, again.replied) == (0, 0)
    assert (await _stats(db, ada))[:4] == (4, 5, expected_answers, 1)

    # Ada tends her answers: opened for Bo, never answered back (no endless threads).
    out = await _round(acts, ada, 0)
    assert (out.received, out.replied) == (expected_answers, 0)
    assert (await _stats(db, bo))[1] == expected_answers

    # Outside the pool: nothing is done, and the pool tells such a mailbox of nobody.
    assert (await _round(acts, outsider, 3)).skipped == "not in the warmup pool"
    async with db.tenant_session(outsider.tenant_id) as session:
        assert await WarmupRepository(session).pool_partners(outsider.mailbox_id, 5) == []
        # Nor can a tenant ask in the name of another tenant's mailbox.
        assert await WarmupRepository(session).pool_partners(ada.mailbox_id, 5) == []


async def test_the_inbox_poll_leaves_warmup_messages_to_the_exchange(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    dev_sink: SmtpSink,
) -> None:
    ada = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink)
    key = await secret_store.get_or_create_codec_key(settings.warmup_key_path)
    warm = compose(
        key, uuid.uuid4(), uuid.uuid4(), "x@elsewhere.test", ada.email, datetime.now(UTC)
    )
    dovecot.deliver(ada.email, warm.raw)
    dovecot.deliver(
        ada.email,
        b"From: lee@lead.example\r\nTo: " + ada.email.encode() + b"\r\nSubject: hello\r\n"
        b"Message-ID: <human-1@lead.example>\r\n\r\nA person writing.\r\n",
    )
    poll = InboundActivities(db, secret_store)
    out = await ActivityEnvironment().run(
        poll.poll_mailbox_inbox, PollInboxInput(str(ada.tenant_id), str(ada.mailbox_id))
    )
    assert (out.fetched, out.recorded) == (2, 1)
    stored = await admin_conn.fetch(
        "SELECT message_id FROM inbox_message_refs WHERE email_account_id = $1", ada.mailbox_id
    )
    assert [r["message_id"] for r in stored] == ["<human-1@lead.example>"]


async def test_a_mailbox_on_a_server_s_ip_exchanges_only_from_that_server(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
    dev_sink: SmtpSink,
) -> None:
    """Warmup mail leaves like campaign mail: a shared worker hands the round to the server
    that holds the domain's IP; that server's worker sends, bound to the IP."""
    ada = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink)
    bo = await _member(db, secret_store, settings, admin_conn, dovecot, dev_sink)
    domain = ada.email.rpartition("@")[2]
    vps, _, _ = await assign_loopback_ip(admin_conn, ada.tenant_id, domain)

    shared = WarmupExchangeActivities(db, secret_store, settings)
    handed = await _round(shared, ada, 2)
    assert (handed.skipped, handed.host_vps_id, handed.sent) == (OTHER_HOST, str(vps), 0)
    other = WarmupExchangeActivities(db, secret_store, settings, vps_id=str(uuid.uuid4()))
    assert (await _round(other, bo, 0)).host_vps_id is None  # no platform IP: the shared queue

    on_host = WarmupExchangeActivities(db, secret_store, settings, vps_id=str(vps))
    try:
        out = await _round(on_host, ada, 2)
    finally:
        await on_host.close()
    assert (out.skipped, out.sent) == (None, 2)
    assert len(_folder(dovecot, bo.email, "INBOX")) == 2
