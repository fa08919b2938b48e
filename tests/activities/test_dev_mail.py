"""The development mail system: the SMTP sink delivering to development mailboxes in
Dovecot, with the sender's copy in its Sent folder, read back over IMAP."""

from __future__ import annotations

import contextlib
import imaplib
import tempfile
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from activities.mail_clients import ServerSettings, sent_folder_has
from penguinmails.stack.dovecot import Dovecot
from penguinmails.stack.ports import free_port
from penguinmails.stack.smtp_sink import SmtpSink


@pytest.fixture
def dev_sink(dovecot: Dovecot) -> Iterator[SmtpSink]:
    sink = SmtpSink(Path(tempfile.mkdtemp(prefix="pm-dev-sink-")), port=free_port(),
                    mailstore=dovecot).start()  # fmt: skip
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
    from penguinmails.stack.dev_reply import OriginalNotFound, reply_to

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
    command = [sys.executable, "-m", "penguinmails.cli", "dev", "reply"]
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
