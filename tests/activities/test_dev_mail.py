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
