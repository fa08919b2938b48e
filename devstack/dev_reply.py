"""`penguinmails dev reply MESSAGE-ID TEXT`: answer a message the sink received, as its
recipient would, through the sink itself (which delivers the reply into the sender's
development mailbox). Threaded: `In-Reply-To`, `References`, `Re:` subject."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import aiosmtplib

from devstack.smtp_sink import message_files, normalize_message_id


class OriginalNotFound(LookupError):
    pass


def build_reply(original: bytes, text: str, now: datetime | None = None) -> EmailMessage:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(original)
    message_id = str(headers.get("Message-ID") or "").strip()
    senders = getaddresses(
        [str(v) for v in headers.get_all("Reply-To", []) or headers.get_all("From", [])]
    )
    recipients = getaddresses([str(v) for v in headers.get_all("To", [])])
    if not senders or not recipients:
        raise ValueError("the original message has no From or no To")
    replier = recipients[0]
    subject = str(headers.get("Subject") or "")
    reply = EmailMessage()
    reply["From"] = f"{replier[0]} <{replier[1]}>" if replier[0] else replier[1]
    reply["To"] = senders[0][1]
    reply["Subject"] = subject if re.match(r"^\s*re\s*:", subject, re.I) else f"Re: {subject}"
    reply["Date"] = format_datetime(now or datetime.now(UTC))
    reply["Message-ID"] = make_msgid(domain=replier[1].rpartition("@")[2] or None)
    if message_id:
        reply["In-Reply-To"] = message_id
        references = str(headers.get("References") or "").split()
        reply["References"] = " ".join([*references, message_id])
    reply.set_content(text.rstrip("\n") + "\n")
    return reply


async def reply_to(
    sink_dir: Path, host: str, port: int, message_id: str, text: str
) -> EmailMessage:
    """Send the reply to the original's sender through the sink at host:port; the reply."""
    found = message_files(sink_dir, message_id) if normalize_message_id(message_id) else []
    if not found:
        raise OriginalNotFound(f"no message with Message-ID {message_id} in {sink_dir}")
    reply = build_reply(found[-1].read_bytes(), text)
    await aiosmtplib.send(reply, hostname=host, port=port, timeout=15)
    return reply


__all__ = ["OriginalNotFound", "build_reply", "reply_to"]
