"""SMTP sink: accepts every message on a loopback port and writes it as an `.eml` file.

File names start with a hash of the Message-ID, so "does the sink hold this Message-ID?" (the
question the send activity asks after a crash between SMTP and its bookkeeping) is one glob,
from any process that can read the folder. A message sent twice is kept twice (the second
file proves a duplicate send). The raw bytes are kept as received; only a `Received:` trace
header and the envelope (`X-Sink-Mail-From`, `X-Sink-Rcpt-To`) are prepended, the way any MTA
adds trace headers, which leaves DKIM signatures valid.

With a mail store (the dev stack's Dovecot), the sink is also the development mail system: a
message to a development mailbox is delivered into that mailbox's INBOX (Maildir), and a
message a development mailbox sends is kept in its Sent folder, so a reply written to a dev
mailbox with any SMTP client arrives there, and a Message-ID can be looked up in the
sender's Sent folder over IMAP.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import uuid
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.controller import Controller

NO_MESSAGE_ID = "no-message-id"


def normalize_message_id(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


def message_id_prefix(message_id: str) -> str:
    digest = hashlib.sha256(normalize_message_id(message_id).encode()).hexdigest()
    return digest[:32]


def has_message_id(directory: Path, message_id: str) -> bool:
    """Whether a message with this Message-ID (with or without <>) was received."""
    if not normalize_message_id(message_id):
        return False
    return any(directory.glob(f"{message_id_prefix(message_id)}-*.eml"))


def message_files(directory: Path, message_id: str | None = None) -> list[Path]:
    """The stored messages, oldest first; only those with `message_id` when given."""
    pattern = f"{message_id_prefix(message_id)}-*.eml" if message_id else "*.eml"
    return sorted(directory.glob(pattern), key=lambda p: (p.stat().st_mtime_ns, p.name))


class MailStore(Protocol):
    """Where development mailboxes live (`devstack.dovecot.Dovecot`)."""

    def has_user(self, address: str) -> bool: ...

    def deliver(self, address: str, raw: bytes, folder: str | None = None) -> Path: ...


SENT_FOLDER = "Sent"


class SinkHandler:
    def __init__(self, directory: Path, mailstore: MailStore | None = None) -> None:
        self.directory = directory
        self.mailstore = mailstore

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        path = self.store(raw, envelope.mail_from, list(envelope.rcpt_tos), session)
        if self.mailstore is not None:
            self.deliver(path, raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def deliver(self, stored: Path, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        """Into each development recipient's INBOX (as stored, with the trace headers), and
        the sender's copy (as sent) into its Sent folder."""
        assert self.mailstore is not None
        for rcpt in dict.fromkeys(r.lower() for r in rcpt_tos):
            if self.mailstore.has_user(rcpt):
                self.mailstore.deliver(rcpt, stored.read_bytes())
        if mail_from and self.mailstore.has_user(mail_from.lower()):
            self.mailstore.deliver(mail_from.lower(), raw, SENT_FOLDER)

    def store(self, raw: bytes, mail_from: str, rcpt_tos: list[str], session: Any = None) -> Path:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        message_id = str(headers.get("Message-ID") or "")
        prefix = message_id_prefix(message_id) if normalize_message_id(message_id) else None
        name = f"{prefix or NO_MESSAGE_ID}-{uuid.uuid4().hex}.eml"

        eol = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
        helo = getattr(session, "host_name", None) or "unknown"
        peer = getattr(session, "peer", None)
        peer_ip = peer[0] if isinstance(peer, tuple) else "unknown"
        trace = [
            f"Received: from {helo} ([{peer_ip}]) by penguinmails-sink; {formatdate()}",
            f"X-Sink-Mail-From: <{mail_from or ''}>",
            f"X-Sink-Rcpt-To: {', '.join(f'<{r}>' for r in rcpt_tos)}",
        ]
        prelude = eol.join(line.encode("utf-8", "replace") for line in trace) + eol

        self.directory.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a message.
        tmp = self.directory / f".{name}.tmp"
        with tmp.open("wb") as f:
            f.write(prelude + raw)
            f.flush()
            os.fsync(f.fileno())
        path = self.directory / name
        os.replace(tmp, path)
        return path


class SmtpSink:
    """The sink, served from a thread of the current process (dev stack or a test)."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 1025,
        mailstore: MailStore | None = None,
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self.handler = SinkHandler(directory, mailstore)
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def has_message_id(self, message_id: str) -> bool:
        return has_message_id(self.directory, message_id)

    def messages(self, message_id: str | None = None) -> list[Path]:
        return message_files(self.directory, message_id)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """`python -m devstack.smtp_sink`: the sink on its own, until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".data/sink"))
    args = parser.parse_args()
    import threading

    with SmtpSink(args.dir, args.host, args.port) as sink:
        print(f"SMTP sink on {sink.url}, writing to {args.dir}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
