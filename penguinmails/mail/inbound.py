"""The classifier of inbound mail: what a message that arrived in one of our mailboxes (or
through `/webhooks/inbound`) is, from its raw bytes alone.

Order: complaint (ARF) and bounce (DSN, then the plain-text shapes) first, since both are
machine-written and may quote our message; then automatic replies (RFC 3834
`Auto-Submitted`, the `X-Autoreply` family, `Precedence`, subjects and phrases); then a
human reply, whose first lines may ask to be removed (`unsubscribe`). Whether a reply
answers one of *our* messages needs the database: `thread_ids` gives the candidates (the
`In-Reply-To`, then the `References` from the newest), and the caller falls back to sender
and subject, and stores what matches nothing as unclassified.

Never raises: a message too large to parse, or one the parser chokes on, comes back
`unclassified` with the reason; headers are still read when they can be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from penguinmails.mail.bounces import (
    BounceReport,
    ComplaintReport,
    looks_like_bounce,
    parse_arf,
    parse_dsn,
    parse_plain_bounce,
)
from penguinmails.mail.html_text import html_to_text
from penguinmails.mail.reply_text import (
    OOO_SUBJECTS,
    asks_to_unsubscribe,
    categorize,
    fold,
    fold_phrase,
    mentions_out_of_office,
    new_text,
    return_date,
)

KINDS = ("reply", "auto_reply", "bounce", "complaint", "unsubscribe", "unclassified")
# Above this the body is not parsed (the headers still are): the message is kept, unread.
MAX_PARSE_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 200_000  # the body text looked at
_MSGID = re.compile(r"<[^<>\s]+>")
_AUTOREPLY_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Auto-Response",
    "X-Vacation",
)


@dataclass(frozen=True)
class Classified:
    kind: str  # one of KINDS
    reason: str  # why (what matched), or why not
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_address: str | None = None
    to_address: str | None = None
    subject: str | None = None
    received: datetime | None = None  # the Date header, when readable
    text: str = ""  # the new text of a reply (quoted history cut), for display
    category: str | None = None  # reply categories (reply_text.CATEGORIES)
    confidence: float = 0.0
    return_date: date | None = None  # an out-of-office notice's return
    bounce: BounceReport | None = None
    complaint: ComplaintReport | None = None
    # Message-IDs that may be ours, most specific first.
    thread_ids: tuple[str, ...] = field(default=())


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        from email.header import decode_header, make_header

        return " ".join(str(make_header(decode_header(str(value)))).split())
    except (ValueError, LookupError, UnicodeError, TypeError):
        return " ".join(str(value).split())


def _address(message: Message, name: str) -> str | None:
    try:
        pairs = getaddresses([str(v) for v in message.get_all(name, [])])
    except (ValueError, TypeError, IndexError):
        return None
    for _, addr in pairs:
        if "@" in addr:
            return addr.strip().lower()
    return None


def _ids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value))


def _date(message: Message) -> datetime | None:
    raw = message.get("Date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def body_text(message: Message) -> str:
    """The text of the message: its text/plain parts, else its HTML as text; attached
    messages (a bounce's copy of the original) are not descended into."""
    plain: list[str] = []
    html: list[str] = []
    stack: list[Message] = [message]
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if part.is_multipart():
            if ctype == "message/rfc822":
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        if part.get_content_disposition() == "attachment":
            continue
        if ctype not in ("text/plain", "text/html"):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = raw.decode(charset, "replace")
        except LookupError:
            text = raw.decode("utf-8", "replace")
        (plain if ctype == "text/plain" else html).append(text)
    text = "\n".join(plain) if plain else "\n".join(html_to_text(h) for h in html)
    return text[:MAX_TEXT_CHARS]


def _auto_submitted(message: Message, subject: str) -> str | None:
    """Why this is an automatic reply, if it is one."""
    auto = str(message.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto.split(';')[0]}"
    for name in _AUTOREPLY_HEADERS:
        value = str(message.get(name) or "").strip().lower()
        if value and value not in ("no", "false", "0"):
            return f"{name}: {value}"
    precedence = str(message.get("Precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    suppress = str(message.get("X-Auto-Response-Suppress") or "").lower()
    folded = fold(subject)
    for prefix in OOO_SUBJECTS:
        if folded.startswith(fold_phrase(prefix)) or (
            fold_phrase(prefix) in folded and prefix not in ("auto:", "vacation")
        ):
            return f"subject: {prefix}"
    if "oof" in suppress and "out of office" in folded:
        return "X-Auto-Response-Suppress: OOF"
    return None


def readable_text(raw: bytes, limit: int = 20_000) -> str:
    """A message's own words for display: its text without the quoted history."""
    if len(raw) > MAX_PARSE_BYTES:
        return ""
    try:
        return new_text(body_text(message_from_bytes(raw, policy=compat32)))[:limit]
    except Exception:  # malformed MIME: nothing readable
        return ""


def recipients_of(raw: bytes) -> list[str]:
    """The addresses a message was delivered to, from its headers (Delivered-To and
    X-Original-To first, then To and Cc), lower case, without repeats."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:262_144], headersonly=True)
        values = [
            str(v)
            for name in ("Delivered-To", "X-Original-To", "To", "Cc")
            for v in headers.get_all(name, [])
        ]
        pairs = getaddresses(values)
    except Exception:  # hostile headers: no recipient
        return []
    out: list[str] = []
    for _, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and addr not in out:
            out.append(addr)
    return out[:20]


def thread_ids(in_reply_to: str, references: str) -> tuple[str, ...]:
    ordered: list[str] = []
    for mid in (*_ids(in_reply_to), *reversed(_ids(references))):
        if mid not in ordered:
            ordered.append(mid)
    return tuple(ordered)


def classify(raw: bytes, max_parse_bytes: int = MAX_PARSE_BYTES) -> Classified:
    """What `raw` is. Never raises."""
    if len(raw) > max_parse_bytes:
        try:
            headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:262_144])
            base = _basics(headers)
        except Exception as exc:  # the parser on hostile bytes: never crash
            return Classified("unclassified", f"malformed headers: {type(exc).__name__}")
        return replace(base, reason=f"too large to classify ({len(raw)} > {max_parse_bytes} bytes)")
    try:
        message = message_from_bytes(raw, policy=compat32)  # parsed once, headers and body
        base = _basics(message)
    except Exception as exc:  # the parser on hostile bytes: never crash
        return Classified("unclassified", f"malformed headers: {type(exc).__name__}")
    try:
        return _classify(message, base)
    except Exception as exc:  # malformed MIME is stored unclassified
        return replace(base, reason=f"malformed MIME: {type(exc).__name__}: {exc}"[:300])


def _basics(headers: Message) -> Classified:
    """The headers every kind keeps, as an unclassified message."""
    in_reply_to = str(headers.get("In-Reply-To") or "")
    references = str(headers.get("References") or "")
    own = _ids(str(headers.get("Message-ID") or ""))
    replying = _ids(in_reply_to)
    return Classified(
        "unclassified",
        "not classified",
        message_id=own[0] if own else None,
        in_reply_to=replying[0] if replying else None,
        references=_ids(references)[-50:],
        from_address=_address(headers, "From"),
        to_address=_address(headers, "To"),
        subject=_header(headers, "Subject")[:998] or None,
        received=_date(headers),
        thread_ids=thread_ids(in_reply_to, references)[:50],
    )


def _classify(message: Message, base: Classified) -> Classified:
    subject = base.subject or ""
    sender = _header(message, "From")
    complaint = parse_arf(message)
    if complaint is not None:
        ids = (complaint.original_message_id,) if complaint.original_message_id else ()
        return replace(
            base,
            kind="complaint",
            reason=f"ARF feedback report ({complaint.feedback_type})",
            complaint=complaint,
            thread_ids=ids + base.thread_ids,
        )
    bounce = parse_dsn(message)
    text = body_text(message)
    if bounce is None and looks_like_bounce(sender, subject, message.get("Return-Path")):
        bounce = parse_plain_bounce(message, text, base.message_id)
    if bounce is not None:
        ids = (bounce.original_message_id,) if bounce.original_message_id else ()
        shape = "DSN" if bounce.shape == "dsn" else "plain-text bounce"
        return replace(
            base,
            kind="bounce",
            reason=f"{shape} {bounce.status or 'without status'} ({bounce.bounce_type})",
            bounce=bounce,
            thread_ids=ids + base.thread_ids,
        )
    fresh = new_text(text)
    auto = _auto_submitted(message, subject)
    if auto is None and message.get("Auto-Submitted") is None and len(fresh) < 3000:
        phrase = mentions_out_of_office(subject + "\n" + fresh)
        if phrase is not None:
            auto = f"phrase: {phrase}"
    if auto is not None:
        return replace(
            base,
            kind="auto_reply",
            reason=auto,
            text=fresh[:20_000],
            category="out_of_office",
            confidence=0.9,
            return_date=return_date(fresh, base.received),
        )
    phrase = asks_to_unsubscribe(fresh)
    if phrase is not None:
        return replace(
            base,
            kind="unsubscribe",
            reason=f"asks to be removed: {phrase!r}",
            text=fresh[:20_000],
            category="unsubscribe",
            confidence=0.9,
        )
    category = categorize(fresh)
    matched = f" ({', '.join(category.matched)})" if category.matched else ""
    return replace(
        base,
        kind="reply",
        reason="a human reply" + matched,
        text=fresh[:20_000],
        category=category.name,
        confidence=category.confidence,
    )


__all__ = [
    "KINDS",
    "MAX_PARSE_BYTES",
    "Classified",
    "body_text",
    "classify",
    "readable_text",
    "recipients_of",
    "thread_ids",
]
