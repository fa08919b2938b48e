"""The development mail system: the SMTP sink delivering to development mailboxes in
Dovecot, with the sender's copy in its Sent folder, read back over IMAP."""

from __future__ import annotations

import contextlib
import imaplib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from temporalio.testing import ActivityEnvironment

from activities.interfaces.sending import SendMessageInput
from activities.mail_clients import ServerSettings, sent_folder_has
from activities.sending import SendingActivities
from devstack.dns import DnsServer, Zone
from devstack.dovecot import Dovecot
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from penguinmails import tokens
from penguinmails.db import Database
from penguinmails.domains import add_domain, read_dkim_private_key
from penguinmails.mail import dkim_keys
from penguinmails.mail.message import DkimKey, MessageSpec, build_message, outbound_message_id
from penguinmails.mailboxes import add_mailbox
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.resolver import dkim_dnsfunc
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings


@pytest.fixture
def dev_sink(dovecot: Dovecot, tmp_path: Path) -> Iterator[SmtpSink]:
    # Under pytest's temporary folder, which pytest prunes.
    sink = SmtpSink(tmp_path / "sink", port=free_port(), mailstore=dovecot).start()
    yield sink
    sink.stop()


def _inbox_subjects(dovecot: Dovecot, user: str, password: str) -> list[str]:
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    try:
        client.login(user, password)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            _, parts = client.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = parts[0][1] if isinstance(parts[0], tuple) else b""
            subjects.append(raw.decode().split(":", 1)[1].strip())
        client.logout()
        return subjects
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


async def test_sink_delivers_to_dev_mailboxes_and_keeps_sent_copies(
    dovecot: Dovecot, dev_sink: SmtpSink
) -> None:
    domain = f"dev{uuid.uuid4().hex[:8]}.test"
    ada, grace = f"ada@{domain}", f"grace@{domain}"
    dovecot.add_user(ada, "ada-pw")
    dovecot.add_user(grace, "grace-pw")

    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = (
        ada,
        grace,
        "Hello Grace",
        message_id,
    )
    msg.set_content("Hi!")
    await aiosmtplib.send(msg, hostname=dev_sink.host, port=dev_sink.port)

    assert dev_sink.has_message_id(message_id)  # still the sink's own record
    assert _inbox_subjects(dovecot, grace, "grace-pw") == ["Hello Grace"]
    imap = ServerSettings(dovecot.host, dovecot.port, "none")
    assert await sent_folder_has(imap, ada, "ada-pw", message_id)
    assert not await sent_folder_has(imap, grace, "grace-pw", message_id)

    # A reply, written with any SMTP client, lands in Ada's INBOX.
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = grace, ada, "Re: Hello Grace"
    reply["In-Reply-To"] = message_id
    reply.set_content("Hello back")
    await aiosmtplib.send(reply, hostname=dev_sink.host, port=dev_sink.port)
    assert _inbox_subjects(dovecot, ada, "ada-pw") == ["Re: Hello Grace"]

    # Mail to or from addresses that are not development mailboxes only goes to the folder.
    other = EmailMessage()
    other["From"], other["To"], other["Subject"] = "x@elsewhere.test", "y@elsewhere.test", "s"
    other.set_content("x")
    await aiosmtplib.send(other, hostname=dev_sink.host, port=dev_sink.port)
    assert _inbox_subjects(dovecot, ada, "ada-pw") == ["Re: Hello Grace"]


async def test_dev_reply_lands_threaded_in_the_senders_inbox(
    dovecot: Dovecot, dev_sink: SmtpSink
) -> None:
    from devstack.dev_reply import OriginalNotFound, reply_to

    domain = f"rep{uuid.uuid4().hex[:8]}.test"
    ada = f"ada@{domain}"
    dovecot.add_user(ada, "ada-pw")
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ada <{ada}>", "Lead <lead@prospect.test>", "Intro"
    msg["Message-ID"] = message_id
    msg.set_content("Hello")
    await aiosmtplib.send(msg, hostname=dev_sink.host, port=dev_sink.port)

    reply = await reply_to(dev_sink.directory, dev_sink.host, dev_sink.port, message_id,
                           "Sounds good, call me.")  # fmt: skip
    assert reply["In-Reply-To"] == message_id and reply["References"] == message_id
    assert reply["To"] == ada and reply["From"] == "Lead <lead@prospect.test>"
    assert _inbox_subjects(dovecot, ada, "ada-pw") == ["Re: Intro"]
    with pytest.raises(OriginalNotFound):
        await reply_to(dev_sink.directory, dev_sink.host, dev_sink.port, "<nope@x.test>", "t")


def test_cli_dev_reply(dovecot: Dovecot, dev_sink: SmtpSink, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    domain = f"cli{uuid.uuid4().hex[:8]}.test"
    ada = f"ada@{domain}"
    dovecot.add_user(ada, "ada-pw")
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    raw = (
        f"From: {ada}\r\nTo: lead@prospect.test\r\nSubject: Pricing\r\n"
        f"Message-ID: {message_id}\r\n\r\nHello\r\n"
    ).encode()
    dev_sink.handler.deliver(dev_sink.handler.store(raw, ada, ["lead@prospect.test"]), raw, ada,
                             ["lead@prospect.test"])  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_SINK", "DATA_DIR"))},
        "DATA_DIR": str(tmp_path),
        "SMTP_SINK_HOST": dev_sink.host,
        "SMTP_SINK_PORT": str(dev_sink.port),
        "SMTP_SINK_DIR": str(dev_sink.directory),
    }
    command = [sys.executable, "-m", "cli", "dev", "reply"]
    done = subprocess.run(
        [*command, message_id, "Yes, tell me more"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "replied:" in done.stdout
    assert _inbox_subjects(dovecot, ada, "ada-pw") == ["Re: Pricing"]
    missing = subprocess.run(
        [*command, "<nope@x.test>", "t"], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1 and "no message with Message-ID" in missing.stderr


async def test_done_when_a_follow_up_through_the_dev_mail_system(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    dovecot: Dovecot,
    dev_sink: SmtpSink,
    dns_server: DnsServer,
    dns_zone: Zone,
) -> None:
    """A DKIM-signed follow-up from a mailbox on the dev servers: the sending activity sends
    it through the sink; its copy is found by Message-ID in the sender's Sent folder over
    IMAP, and the copy's signature verifies against the record the DNS serves."""
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("Done Co")
    name = f"done{uuid.uuid4().hex[:8]}.example.test"
    domain = await add_domain(db, secret_store, settings, tenant.id, name)
    for r in domain.dns_records["records"]:
        dns_zone.add(r["name"], r["type"], r["value"])
    email, password = f"ada@{name}", f"pw-{uuid.uuid4().hex}"
    account = await add_mailbox(
        db,
        secret_store,
        tenant.id,
        email=email,
        smtp_password=password,
        imap_password=password,
        smtp_settings={"host": dev_sink.host, "port": dev_sink.port, "security": "none"},
        imap_settings={"host": dovecot.host, "port": dovecot.port, "security": "none"},
    )
    dovecot.add_user(email, password)  # what the dev stack's mailbox publisher does

    tenant_id = str(tenant.id)
    first = outbound_message_id(tenant_id, "c", "l", "s1", name)
    spec = MessageSpec(
        tenant_id=tenant_id,
        message_id=outbound_message_id(tenant_id, "c", "l", "s2", name),
        from_email=email,
        to_email="grace@prospect.test",
        subject="Pricing",
        html="<p>Following up on <a href='https://acme.test/pricing'>pricing</a>.</p>",
        date=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        tracking_base_url=f"https://track.{name}",
        thread=(first,),
    )
    assert domain.dkim_selector
    key = os.urandom(32)
    built = build_message(
        spec,
        key,
        DkimKey(name, domain.dkim_selector, await read_dkim_private_key(secret_store, domain)),
    )
    async with db.tenant_session(tenant.id) as session:
        content_key = await ContentRepository(session).put(tenant.id, built.raw, "message/rfc822")
    acts = SendingActivities(db, secret_store)
    try:
        out = await ActivityEnvironment().run(
            acts.send_message, SendMessageInput(tenant_id, str(account.id), content_key)
        )
    finally:
        await acts.close()
    assert out.code == 250 and out.message_id == built.message_id

    imap = ServerSettings.of(account.imap_settings)
    assert await sent_folder_has(imap, email, password, built.message_id)
    sent = next((dovecot.folder(email, "Sent") / "new").iterdir()).read_bytes()
    assert dkim_keys.verify(sent, dkim_dnsfunc(dns_server.address))
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sent
    assert f"In-Reply-To: {first}".encode() in sent
    assert b"Subject: Re: Pricing" in sent
    tracked = built.tracked_links["https://acme.test/pricing"]
    assert tokens.verify(key, tracked.rsplit("/", 1)[1], tokens.TokenKind.CLICK).url == (
        "https://acme.test/pricing"
    )
