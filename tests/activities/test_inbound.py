"""The inbox poll against the real Dovecot: samples delivered into the mailbox are fetched
from the checkpoint, stored, classified, threaded under what we sent, and what follows
(lead statuses, suppressions, raw analytics rows, facts for the lead workflows) happens
once, even when a poll is repeated from an older checkpoint."""

from __future__ import annotations

import imaplib
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput, PollInboxOutput
from devstack.dovecot import Dovecot
from penguinmails.db import Database
from penguinmails.leads.emails import address_hash
from penguinmails.repositories.content_parts import ContentPartsRepository
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import PASSWORD, SUBJECT, InboundWorld, inbound_world


@pytest.fixture
async def world(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    admin_conn: asyncpg.Connection,
    dovecot: Dovecot,
) -> InboundWorld:
    return await inbound_world(db, secret_store, settings, admin_conn, dovecot, leads=5)


@pytest.fixture
def acts(db: Database, secret_store: SecretStore) -> InboundActivities:
    return InboundActivities(db, secret_store)


async def _poll(
    acts: InboundActivities,
    world: InboundWorld,
    max_message_bytes: int = 25 << 20,
    client: Client | None = None,
) -> PollInboxOutput:
    """`client`: for a poll that trips the campaign's breaker (its pause is an update)."""
    data = PollInboxInput(
        str(world.tenant_id), str(world.mailbox_id), max_message_bytes=max_message_bytes
    )
    env = ActivityEnvironment(client=client)
    out: PollInboxOutput = await env.run(acts.poll_mailbox_inbox, data)
    return out


async def _inbound(conn: asyncpg.Connection, world: InboundWorld) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM inbox_message_refs WHERE tenant_id = $1 AND direction = 'inbound'",
        world.tenant_id,
    )
    return {row["message_id"]: row for row in rows}


async def _analytics(db: Database, world: InboundWorld, table: str) -> int:
    async with db.analytics_session(world.tenant_id) as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_poll_records_every_kind_once_threaded_with_its_consequences(
    acts: InboundActivities,
    world: InboundWorld,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
    db: Database,
) -> None:
    (l0, a0), (l1, a1), (l2, a2), (l3, a3), (l4, a4) = world.leads
    (r0, m0), (r1, m1), (r2, m2), (r3, m3), (r4, m4) = world.sent
    box = world.mailbox
    stranger = f"nobody-{uuid.uuid4().hex[:6]}@elsewhere.example"
    deliveries = [
        samples.human_reply(m0, a0, box, "Sounds interesting, tell me more about pricing."),
        samples.out_of_office(m1, a1, box),
        samples.postfix_dsn(m2, a2, box),
        samples.arf_complaint(m3, a3, box),
        samples.human_reply(m4, a4, box, "Please remove me from your list."),
        samples.qmail_bounce("<never-ours@elsewhere.example>", stranger, box),
        b"\x00\xffnot mail at all",
    ]
    for raw in deliveries:
        dovecot.deliver(box, raw)

    out = await _poll(acts, world)
    assert out.mailbox == "active"
    assert out.fetched == out.recorded == len(deliveries)
    rows = await _inbound(admin_conn, world)
    assert len(rows) == len(deliveries)

    reply = next(r for r in rows.values() if r["in_reply_to"] == m0)
    assert reply["classification"] == "reply" and reply["category"] == "interested"
    assert reply["parent_message_id"] == r0 and reply["lead_id"] == l0
    assert reply["campaign_id"] == world.campaign_id and reply["message_type"] == "email"
    assert 0.3 < reply["category_confidence"] <= 1
    async with db.tenant_session(world.tenant_id) as session:
        stored = b"".join(
            [p async for p in ContentPartsRepository(session).stream(reply["content_storage_key"])]
        )
    assert b"tell me more about pricing" in stored

    ooo = rows["<ooo-1@lead.example>"]
    assert ooo["classification"] == "auto_reply" and ooo["message_type"] == "auto_reply"
    assert ooo["parent_message_id"] == r1 and ooo["category"] == "out_of_office"
    bounce = next(r for r in rows.values() if r["message_type"] == "bounce" and r["lead_id"] == l2)
    assert bounce["bounce_type"] == "hard" and bounce["parent_message_id"] == r2
    complaint = next(r for r in rows.values() if r["classification"] == "complaint")
    assert complaint["parent_message_id"] == r3 and complaint["lead_id"] == l3
    unsubscribe = next(r for r in rows.values() if r["classification"] == "unsubscribe")
    assert unsubscribe["lead_id"] == l4 and unsubscribe["parent_message_id"] == r4
    stray = next(r for r in rows.values() if r["bounce_type"] and r["lead_id"] is None)
    assert stray["parent_message_id"] is None  # a DSN for an address we never sent to
    junk = next(
        r for r in rows.values() if r["message_id"].endswith("inbound.penguinmails.invalid>")
    )
    assert junk["classification"] == "unclassified"

    statuses = dict(
        await admin_conn.fetch("SELECT id, status FROM leads WHERE tenant_id = $1", world.tenant_id)
    )
    assert statuses == {
        l0: "replied",
        l1: "active",
        l2: "bounced",
        l3: "complained",
        l4: "unsubscribed",
    }
    suppressed = {
        r["value"]: r["reason"]
        for r in await admin_conn.fetch(
            "SELECT value, reason FROM suppressions WHERE tenant_id = $1", world.tenant_id
        )
    }
    assert suppressed == {
        address_hash(a2): "bounced",
        address_hash(a3): "complained",
        address_hash(a4): "unsubscribed",
    }
    parents = dict(
        await admin_conn.fetch(
            "SELECT id, (replied_at IS NOT NULL, bounce_type, status) FROM inbox_message_refs "
            "WHERE tenant_id = $1 AND direction = 'outbound'",
            world.tenant_id,
        )
    )
    assert tuple(parents[r0]) == (True, None, "sent")
    assert tuple(parents[r2]) == (False, "hard", "sent")  # the send's status is the send's

    facts = {(f.lead_id, f.signal): f for f in out.facts}
    assert set(facts) == {
        (str(l0), "reply"),
        (str(l1), "out_of_office"),
        (str(l2), "bounce"),
        (str(l3), "complaint"),
        (str(l4), "unsubscribe"),
    }
    assert facts[(str(l1), "out_of_office")].detail == "2026-03-16"
    assert all(f.campaign_ids == [str(world.campaign_id)] for f in out.facts)
    assert await _analytics(db, world, "email_replies") == 2
    assert await _analytics(db, world, "email_bounces") == 1
    assert await _analytics(db, world, "email_complaints") == 1

    # Nothing new: nothing fetched. A later message only is fetched next.
    again = await _poll(acts, world)
    assert again.fetched == 0 and again.facts == []
    dovecot.deliver(
        box, samples.unthreaded_reply(a1, box, "Not interested, thanks.", f"RE: {SUBJECT}")
    )
    later = await _poll(acts, world)
    assert later.fetched == later.recorded == 1
    assert [(f.lead_id, f.signal) for f in later.facts] == [(str(l1), "reply")]

    # A poll repeated from an old checkpoint (a crash before it moved) records nothing twice
    # and returns the facts again.
    await admin_conn.execute(
        "UPDATE mailbox_inbox_checkpoints SET last_uid = 0 WHERE email_account_id = $1",
        world.mailbox_id,
    )
    replay = await _poll(acts, world)
    assert replay.fetched == len(deliveries) + 1 and replay.recorded == 0
    assert len(replay.facts) == len(out.facts) + 1
    assert len(await _inbound(admin_conn, world)) == len(deliveries) + 1
    assert await _analytics(db, world, "email_replies") == 3


async def test_a_new_uidvalidity_rereads_the_folder_and_stores_nothing_twice(
    acts: InboundActivities, world: InboundWorld, dovecot: Dovecot, admin_conn: asyncpg.Connection
) -> None:
    (_, a0), *_ = world.leads
    (_, m0), *_ = world.sent
    dovecot.deliver(world.mailbox, samples.human_reply(m0, a0, world.mailbox, "Yes please"))
    first = await _poll(acts, world)
    assert first.recorded == 1
    await admin_conn.execute(
        "UPDATE mailbox_inbox_checkpoints SET uidvalidity = 1, last_uid = 999 "
        "WHERE email_account_id = $1",
        world.mailbox_id,
    )
    second = await _poll(acts, world)
    assert second.fetched == 1 and second.recorded == 0
    uidvalidity, last_uid = await admin_conn.fetchrow(
        "SELECT uidvalidity, last_uid FROM mailbox_inbox_checkpoints WHERE email_account_id = $1",
        world.mailbox_id,
    )
    assert uidvalidity != 1 and last_uid == 1


async def test_a_huge_message_is_kept_cut_and_unclassified(
    acts: InboundActivities, world: InboundWorld, dovecot: Dovecot, admin_conn: asyncpg.Connection
) -> None:
    (_, a0), *_ = world.leads
    (_, m0), *_ = world.sent
    dovecot.deliver(world.mailbox, samples.human_reply(m0, a0, world.mailbox, "x" * 50_000))
    out = await _poll(acts, world, max_message_bytes=10_000)
    assert out.recorded == 1 and out.facts == []
    (row,) = (await _inbound(admin_conn, world)).values()
    assert row["classification"] == "unclassified"
    assert "too large" in row["classification_reason"]


async def test_an_inactive_mailbox_is_not_polled_and_a_deleted_one_is_gone(
    acts: InboundActivities, world: InboundWorld, dovecot: Dovecot, admin_conn: asyncpg.Connection
) -> None:
    (_, a0), *_ = world.leads
    (_, m0), *_ = world.sent
    dovecot.deliver(world.mailbox, samples.human_reply(m0, a0, world.mailbox, "Yes please"))
    await admin_conn.execute(
        "UPDATE email_accounts SET status = 'paused' WHERE id = $1", world.mailbox_id
    )
    paused = await _poll(acts, world)
    assert paused.mailbox == "inactive" and paused.fetched == 0
    await admin_conn.execute(
        "UPDATE email_accounts SET status = 'active', imap_settings = "
        "imap_settings || '{\"port\": 1}'::jsonb WHERE id = $1",
        world.mailbox_id,
    )
    down = await _poll(acts, world)
    assert down.mailbox == "unreachable" and down.note
    await admin_conn.execute(
        "UPDATE email_accounts SET deleted = now() WHERE id = $1", world.mailbox_id
    )
    assert (await _poll(acts, world)).mailbox == "gone"


async def test_a_burst_of_hard_bounces_pauses_the_mailbox_once_with_a_notification(
    acts: InboundActivities,
    world: InboundWorld,
    dovecot: Dovecot,
    admin_conn: asyncpg.Connection,
    temporal_client: Client,
) -> None:
    # 20 sends in the window: the 5 of the world and 15 more.
    recipients = []
    for n in range(15):
        address = f"more{n}-{uuid.uuid4().hex[:6]}@lead.example"
        message_id = f"<more{n}.{uuid.uuid4().hex}@ours.example>"
        await admin_conn.execute(
            "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, step_id, "
            "direction, message_id, to_email, subject, status, sent_at) "
            "VALUES ($1, $2, $3, $4, 'outbound', $5, $6, 's', 'sent', now())",
            world.tenant_id,
            world.mailbox_id,
            world.campaign_id,
            world.step_id,
            message_id,
            address,
        )
        recipients.append((address, message_id))

    async def breaker_state() -> tuple[list[str], int]:
        reasons = await admin_conn.fetchval(
            "SELECT pause_reasons FROM email_accounts WHERE id = $1", world.mailbox_id
        )
        notes = await admin_conn.fetchval(
            "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND type = 'mailbox_breaker'",
            world.tenant_id,
        )
        return list(reasons), notes

    (a0, m0), (a1, m1), (a2, m2) = recipients[:3]
    dovecot.deliver(world.mailbox, samples.postfix_dsn(m0, a0, world.mailbox))
    await _poll(acts, world, client=temporal_client)
    assert await breaker_state() == ([], 0)  # 1 of 20: 5%, not above it
    dovecot.deliver(world.mailbox, samples.postfix_dsn(m1, a1, world.mailbox, status="4.2.2"))
    await _poll(acts, world, client=temporal_client)
    assert await breaker_state() == ([], 0)  # a soft bounce does not count
    dovecot.deliver(world.mailbox, samples.gmail_dsn(m2, a2, world.mailbox))
    await _poll(acts, world, client=temporal_client)
    assert await breaker_state() == (["breaker"], 1)  # 2 of 20: 10%
    message = await admin_conn.fetchval(
        "SELECT message FROM notifications WHERE tenant_id = $1 AND type = 'mailbox_breaker'",
        world.tenant_id,
    )
    assert "20 messages: 2 hard bounces (10.0%" in message
    (a3, m3) = recipients[3]
    dovecot.deliver(world.mailbox, samples.exim_dsn(m3, a3, world.mailbox))
    await _poll(acts, world, client=temporal_client)
    assert await breaker_state() == (["breaker"], 1)  # paused once, told once


async def test_a_reply_filed_as_spam_is_read_from_the_spam_folder_once(
    acts: InboundActivities, world: InboundWorld, dovecot: Dovecot, admin_conn: asyncpg.Connection
) -> None:
    """Providers file some replies and bounces as spam: the poll reads the spam folders
    after the inbox, each from its own checkpoint."""
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(world.mailbox, PASSWORD)
    assert client.create('"Junk"')[0] == "OK"
    client.logout()
    (lead, address), (_, sent_id) = world.leads[0], world.sent[0]
    dovecot.deliver(
        world.mailbox, samples.human_reply(sent_id, address, world.mailbox, "Yes, call me."), "Junk"
    )
    out = await _poll(acts, world)
    assert (out.fetched, out.recorded) == (1, 1)
    assert [(f.lead_id, f.signal) for f in out.facts] == [(str(lead), "reply")]
    rows = await _inbound(admin_conn, world)
    [reply] = [r for r in rows.values() if r["in_reply_to"] == sent_id]
    assert reply["classification"] == "reply" and reply["lead_id"] == lead
    again = await _poll(acts, world)
    assert (again.fetched, again.recorded) == (0, 0)
    checkpoints = await admin_conn.fetch(
        "SELECT folder FROM mailbox_inbox_checkpoints WHERE email_account_id = $1",
        world.mailbox_id,
    )
    assert sorted(r["folder"] for r in checkpoints) == ["INBOX", "Junk"]
