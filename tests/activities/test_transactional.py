"""The platform's own e-mail, end to end on real parts: the facts that queue a message
(sign-up, a payment, a finished campaign) queue it once in their own transaction, and the
real sender delivers it to the real SMTP sink (or keeps it for a retry on a 4xx or a
refused connection, fails it on a 5xx or after the last attempt)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.billing import BillingActivities
from activities.campaigns import CampaignActivities
from activities.interfaces.billing import InvoiceFacts, RecordPaymentInput
from activities.interfaces.campaigns import SetStatusInput
from activities.interfaces.transactional import SendDueInput, SendDueOutput
from activities.transactional import TransactionalActivities
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from penguinmails.db import Database
from penguinmails.settings import Settings
from penguinmails.transactional import MAX_ATTEMPTS
from tests.fixtures.mail import AuthSmtpServer
from usecases.tenancy import SignUpResult, sign_up


async def _sign_up(db: Database, client: Client) -> tuple[SignUpResult, str]:
    email = f"owner-{uuid.uuid4().hex[:8]}@acme.test"
    return await sign_up(db, client, f"Acme {uuid.uuid4().hex[:4]}", email), email


async def _send(db: Database, settings: Settings) -> SendDueOutput:
    sender = TransactionalActivities(db, None, settings)
    out: SendDueOutput = await ActivityEnvironment().run(
        sender.send_transactional_emails, SendDueInput()
    )
    return out


async def _rows(conn: asyncpg.Connection, tenant: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, type, to_email, status, attempts, payload, last_error_message, "
        "next_attempt > now() AS later FROM transactional_emails WHERE tenant_id = $1 "
        "ORDER BY queued",
        tenant,
    )


async def test_sign_up_queues_the_welcome_and_the_sender_delivers_it(
    db: Database,
    temporal_client: Client,
    settings: Settings,
    smtp_sink: SmtpSink,
    admin_conn: asyncpg.Connection,
) -> None:
    signed, email = await _sign_up(db, temporal_client)
    [row] = await _rows(admin_conn, signed.tenant_id)
    assert (row["type"], row["to_email"], row["status"], row["attempts"]) == (
        "welcome",
        email,
        "queued",
        0,
    )
    assert settings.platform_smtp_port == smtp_sink.port  # the session's own sink
    out = await _send(db, settings)
    assert out.sent >= 1
    [row] = await _rows(admin_conn, signed.tenant_id)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    mid = f"<transactional.{row['id']}@penguinmails.test>"
    [stored] = smtp_sink.messages(mid)
    raw = stored.read_bytes()
    assert b"Welcome to PenguinMails" in raw and email.encode() in raw
    # Sent is final: another run does not send it again.
    await _send(db, settings)
    assert len(smtp_sink.messages(mid)) == 1


async def test_refused_connection_waits_then_fails_after_the_last_attempt(
    db: Database,
    temporal_client: Client,
    settings: Settings,
    admin_conn: asyncpg.Connection,
) -> None:
    signed, _ = await _sign_up(db, temporal_client)
    closed = settings.model_copy(update={"platform_smtp_port": free_port()})
    await _send(db, closed)
    [row] = await _rows(admin_conn, signed.tenant_id)
    assert (row["status"], row["attempts"], row["later"]) == ("queued", 1, True)
    assert row["last_error_message"]
    # The last attempt: failed, not retried again.
    await admin_conn.execute(
        "UPDATE transactional_emails SET attempts = $2, next_attempt = now() WHERE id = $1",
        row["id"],
        MAX_ATTEMPTS - 1,
    )
    await _send(db, closed)
    [row] = await _rows(admin_conn, signed.tenant_id)
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)


async def test_a_4xx_waits_and_a_5xx_fails_at_once(
    db: Database,
    temporal_client: Client,
    settings: Settings,
    smtp_auth_server: AuthSmtpServer,
    admin_conn: asyncpg.Connection,
) -> None:
    signed, _ = await _sign_up(db, temporal_client)
    tenant = signed.tenant_id
    await admin_conn.execute("DELETE FROM transactional_emails WHERE tenant_id = $1", tenant)
    for to in ("tempfail@acme.test", "reject@acme.test"):
        await admin_conn.execute(
            "INSERT INTO transactional_emails (id, tenant_id, to_email, type, payload, dedup_key) "
            "VALUES (gen_random_uuid(), $1, $2, 'welcome', $3::jsonb, $2)",
            tenant,
            to,
            json.dumps({"tenant_name": "Acme"}),
        )
    server = settings.model_copy(
        update={
            "platform_smtp_host": smtp_auth_server.host,
            "platform_smtp_port": smtp_auth_server.port,
            "platform_smtp_security": "starttls",
            "platform_smtp_verify_tls": False,
        }
    )
    await _send(db, server)
    rows = {r["to_email"]: r for r in await _rows(admin_conn, tenant)}
    assert rows["tempfail@acme.test"]["status"] == "queued"
    assert "451" in rows["tempfail@acme.test"]["last_error_message"]
    assert rows["reject@acme.test"]["status"] == "failed"
    assert "550" in rows["reject@acme.test"]["last_error_message"]


async def test_payments_and_a_finished_campaign_queue_their_mail_once(
    db: Database,
    temporal_client: Client,
    settings: Settings,
    admin_conn: asyncpg.Connection,
) -> None:
    signed, email = await _sign_up(db, temporal_client)
    tenant = signed.tenant_id
    billing = BillingActivities(db, None, settings)
    paid = InvoiceFacts("in_mail_paid", 2500, "usd", "succeeded", 1_700_000_000)
    failed_then_paid = InvoiceFacts("in_mail_late", 900, "usd", "failed")
    for facts in (paid, paid, failed_then_paid):  # the same event twice: one message
        await billing.record_payment(RecordPaymentInput(str(tenant), "evt_x", facts))
    late_success = InvoiceFacts("in_mail_late", 900, "usd", "succeeded", 1_700_000_100)
    await billing.record_payment(RecordPaymentInput(str(tenant), "evt_y", late_success))
    # A failure Stripe delivers after the success: recorded as nothing, told to nobody.
    stale = InvoiceFacts("in_mail_paid", 2500, "usd", "failed")
    await billing.record_payment(RecordPaymentInput(str(tenant), "evt_z", stale))

    company: Any = await admin_conn.fetchval(
        "INSERT INTO companies (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'Sales') "
        "RETURNING id",
        tenant,
    )
    campaign: Any = await admin_conn.fetchval(
        "INSERT INTO campaigns (id, tenant_id, company_id, name, status) "
        "VALUES (gen_random_uuid(), $1, $2, 'Spring launch', 'sending') RETURNING id",
        tenant,
        company,
    )
    campaigns = CampaignActivities(db)
    for _ in range(2):
        await campaigns.set_campaign_status(SetStatusInput(str(tenant), str(campaign), "completed"))

    rows = [r for r in await _rows(admin_conn, tenant) if r["type"] != "welcome"]
    kinds = sorted((r["type"], json.loads(r["payload"]).get("invoice_id")) for r in rows)
    assert kinds == [
        ("campaign_finished", None),
        ("invoice_paid", "in_mail_late"),
        ("invoice_paid", "in_mail_paid"),
        ("payment_failed", "in_mail_late"),
    ]
    assert {r["to_email"] for r in rows} == {email}
    finished = next(r for r in rows if r["type"] == "campaign_finished")
    assert json.loads(finished["payload"]) == {"campaign_name": "Spring launch"}
    # None of it touched the tenant's sending counters.
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM tenant_monthly_counters WHERE tenant_id = $1", tenant
        )
        == 0
    )


async def test_a_staff_account_gets_no_welcome(
    db: Database, temporal_client: Client, admin_conn: asyncpg.Connection
) -> None:
    from usecases.staff import create_staff

    staff = await create_staff(db, temporal_client, f"staff-{uuid.uuid4().hex[:8]}@pm.test")
    assert await _rows(admin_conn, staff.tenant_id) == []
