"""Warmup exchanges between the mailboxes of the warmup pool (pure: no I/O).

A mailbox in warmup sends a few neutral messages a round to other mailboxes of the pool; each
partner, on its own rounds, finds them in its inbox or its spam folder, moves them out of
spam, opens them and answers some, which is what mailbox providers read as a reputation.
What crosses between tenants is only what is built here: generated text, the two addresses
and the marker header. No tenant's templates, leads or names ever do.

The marker (`X-PenguinMails-Warmup`) names the sending tenant and mailbox and carries an
HMAC over them and the message's Message-ID, so a partner counts an open or a reply only
for a genuine warmup message, and a stranger cannot inflate a mailbox's stats.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from uuid import UUID

HEADER = "X-PenguinMails-Warmup"
# The marker is one token longer than a folded line: keep headers unfolded (RFC 5322's hard
# limit is 998 characters) so it is never split or encoded.
_POLICY = SMTP.clone(max_line_length=998)
VERSION = "w1"
# At most this many warmup messages a day from one mailbox, whatever its ramp allows: the
# ramp's cap is what campaigns may send; warmup traffic is a companion, not a second quota.
DAILY_MAX = 40
# A share of the warmup messages a partner answers, decided per message (stable on retries).
REPLY_SHARE = 0.3

_MARKER = re.compile(rf"^{VERSION}\.([0-9a-f-]{{36}})\.([0-9a-f-]{{36}})\.([0-9a-f]{{32}})$")

_SUBJECTS = (
    "Quick check-in",
    "Notes from this week",
    "Following up on our chat",
    "Agenda for Thursday",
    "A question about the schedule",
    "Thanks for yesterday",
    "Updated timeline",
    "Lunch next week?",
)
_OPENERS = ("Hi", "Hello", "Hey", "Good morning", "Hi there")
_LINES = (
    "I wanted to share a short update on where things stand.",
    "The draft is ready whenever you have a moment to look at it.",
    "Could we move our call to later in the week?",
    "Thanks again for the help with the numbers last time.",
    "Let me know if the new timeline works on your side.",
    "I have added a few notes to the shared document.",
    "Nothing urgent, just keeping you in the loop.",
    "I will send the final version by Friday.",
)
_REPLIES = (
    "Thanks, that works for me.",
    "Got it, thank you for the update.",
    "Sounds good, talk soon.",
    "Appreciated, I will take a look today.",
    "Perfect, see you then.",
)
_CLOSINGS = ("Best", "Thanks", "Cheers", "Kind regards", "All the best")


def daily_volume(cap: int) -> int:
    """Warmup messages a mailbox sends on a day whose ramp allows `cap`."""
    return max(0, min(cap, DAILY_MAX))


def round_volume(cap: int, rounds: int) -> int:
    """One of the day's `rounds` shares of its volume (rounded up: a small ramp still
    exchanges)."""
    return math.ceil(daily_volume(cap) / max(1, rounds))


def _mac(key: bytes, tenant_id: str, mailbox_id: str, message_id: str) -> str:
    text = f"{VERSION}|{tenant_id}|{mailbox_id}|{message_id.strip()}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()[:32]


def marker(key: bytes, tenant_id: UUID | str, mailbox_id: UUID | str, message_id: str) -> str:
    tenant, mailbox = str(tenant_id), str(mailbox_id)
    return f"{VERSION}.{tenant}.{mailbox}.{_mac(key, tenant, mailbox, message_id)}"


@dataclass(frozen=True)
class Sender:
    tenant_id: UUID
    mailbox_id: UUID


def looks_like_marker(value: str | None) -> bool:
    """The marker's shape, without its key (the inbox poll leaves such messages alone; the
    exchange verifies the MAC before it counts anything)."""
    return bool(value) and _MARKER.match(str(value).strip()) is not None


def is_warmup(raw: bytes) -> bool:
    """Whether a received message carries a warmup marker (by its shape): the inbox poll
    leaves it to the warmup exchange instead of the reply inbox."""
    head = raw[: raw.find(b"\r\n\r\n") if b"\r\n\r\n" in raw[:65536] else 65536]
    if HEADER.lower().encode() not in head.lower():
        return False
    value = BytesHeaderParser(policy=default_policy).parsebytes(head + b"\r\n\r\n").get(HEADER)
    return looks_like_marker(str(value) if value is not None else None)


def read_marker(key: bytes, value: str | None, message_id: str) -> Sender | None:
    """The sending tenant and mailbox of a genuine marker on the message `message_id`."""
    match = _MARKER.match(str(value or "").strip())
    if match is None:
        return None
    tenant, mailbox, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(key, tenant, mailbox, message_id)):
        return None
    try:
        return Sender(UUID(tenant), UUID(mailbox))
    except ValueError:
        return None


def answers(message_id: str) -> bool:
    """Whether a partner answers this warmup message: a stable draw from its id, so a
    round repeated after a crash makes the same choice."""
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < REPLY_SHARE


@dataclass(frozen=True)
class WarmupMessage:
    raw: bytes
    message_id: str


def compose(
    key: bytes,
    tenant_id: UUID | str,
    mailbox_id: UUID | str,
    sender: str,
    to: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
    reply_to: tuple[str, str] | None = None,
) -> WarmupMessage:
    """A warmup message from `sender` to `to`; `reply_to` = (Message-ID, subject) makes it
    an answer in that thread. Generated text only."""
    pick = rng or random.Random()
    domain = sender.rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=domain)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    if reply_to is not None:
        parent, subject = reply_to
        msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        msg["In-Reply-To"] = parent
        msg["References"] = parent
        body = f"{pick.choice(_REPLIES)}\n\n{pick.choice(_CLOSINGS)}\n"
    else:
        msg["Subject"] = pick.choice(_SUBJECTS)
        lines = pick.sample(_LINES, 2)
        body = f"{pick.choice(_OPENERS)},\n\n{' '.join(lines)}\n\n{pick.choice(_CLOSINGS)}\n"
    msg["Date"] = format_datetime(now, usegmt=True)
    msg["Message-ID"] = message_id
    msg[HEADER] = marker(key, tenant_id, mailbox_id, message_id)
    msg.set_content(body)
    return WarmupMessage(msg.as_bytes(), message_id)


def reputation_score(sent: int, opened: int, replied: int, rescued: int) -> int:
    """0 to 100 for a mailbox's day: how its warmup messages were received by the pool. Opens
    and replies raise it, each message a partner had to rescue from spam lowers it; with
    nothing sent there is nothing to score (0)."""
    if sent <= 0:
        return 0
    inbox = max(0.0, 1 - rescued / sent)
    engaged = min(1.0, opened / sent)
    answered = min(1.0, replied / (sent * REPLY_SHARE)) if REPLY_SHARE else 0.0
    return round(100 * (0.6 * inbox + 0.25 * engaged + 0.15 * answered))


__all__ = [
    "DAILY_MAX",
    "HEADER",
    "Sender",
    "WarmupMessage",
    "answers",
    "compose",
    "daily_volume",
    "is_warmup",
    "looks_like_marker",
    "marker",
    "read_marker",
    "reputation_score",
    "round_volume",
]
