"""An answer written in the reply inbox, as wire bytes: from the mailbox that received the
reply, to its sender, threaded under it (`In-Reply-To` the reply, `References` what we sent
first and the reply), `Re:` once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from uuid import uuid4

_RE = re.compile(r"^\s*re\s*:", re.IGNORECASE)


def answer_message_id(mailbox: str) -> str:
    domain = mailbox.rpartition("@")[2] or "localhost"
    return f"<{uuid4().hex}.inbox@{domain}>"


def build_answer(
    *,
    mailbox: str,
    from_name: str | None,
    to: str,
    subject: str | None,
    message_id: str,
    in_reply_to: str,
    references: list[str],
    text: str,
    now: datetime | None = None,
) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((from_name, mailbox)) if from_name else mailbox
    message["To"] = to
    base = (subject or "").strip()
    message["Subject"] = base if _RE.match(base) else f"Re: {base}".rstrip()
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["In-Reply-To"] = in_reply_to
    chain = [r for r in references if r and r != in_reply_to]
    message["References"] = " ".join([*chain, in_reply_to])
    message.set_content(text.rstrip("\n") + "\n")
    return message.as_bytes()


__all__ = ["answer_message_id", "build_answer"]
