"""Delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965), read from
a parsed message: the structured `multipart/report` shape first, then the plain-text shapes
some MTAs still send (qmail, older Exim), recognised by their phrases.

Pure functions over `email.message.Message`; nothing here raises on odd input: a field that
cannot be read is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

# An enhanced status code (RFC 3463): class.subject.detail.
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# A basic SMTP reply code at the start of a line or after "said:"/"error:".
_BASIC = re.compile(r"(?:^|said:|error:|\n|\s)\s*([45])(\d\d)[\s-]", re.IGNORECASE)
_ADDRESS = re.compile(r"<?([A-Za-z0-9._%+'=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)

_DAEMON_SENDERS = ("mailer-daemon", "postmaster", "mail delivery", "mail-daemon")
_BOUNCE_SUBJECTS = (
    "undelivered mail",
    "undeliverable",
    "delivery status notification",
    "mail delivery failed",
    "delivery failure",
    "failure notice",
    "returned mail",
    "delivery has failed",
    "could not be delivered",
    "mail delivery subsystem",
    "unzustellbar",
    "non remis",
    "no se puede entregar",
)
_HARD_PHRASES = (
    "permanent error",
    "permanent failure",
    "user unknown",
    "no such user",
    "mailbox unavailable",
    "does not exist",
    "address rejected",
    "recipient address rejected",
    "unknown recipient",
    "i've given up",
    "i have given up",
)
_SOFT_PHRASES = (
    "temporary error",
    "temporary failure",
    "mailbox full",
    "over quota",
    "try again later",
    "will retry",
    "delayed",
    "not yet been delivered",
)


@dataclass(frozen=True)
class BounceReport:
    bounce_type: str  # hard | soft
    status: str | None  # the enhanced status code, e.g. 5.1.1
    recipient: str | None  # the failed recipient
    diagnostic: str | None
    original_message_id: str | None  # our message that bounced, when the report quotes it
    shape: str  # dsn | plain


@dataclass(frozen=True)
class ComplaintReport:
    feedback_type: str
    recipient: str | None
    original_message_id: str | None


def _param(message: Message, name: str) -> str:
    value = message.get_param(name, header="content-type")
    return str(value).lower() if isinstance(value, str) else ""


def _fields(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):  # some parsers leave it as text: read the blocks ourselves
        from email.parser import HeaderParser

        return [HeaderParser().parsestr(block) for block in re.split(r"\n\s*\n", payload)]
    return []


def _address_of(value: str | None) -> str | None:
    if not value:
        return None
    text = value.split(";", 1)[1] if ";" in value else value
    match = _ADDRESS.search(text)
    return match.group(1).lower() if match else None


def _original_message_id(message: Message, own_id: str | None) -> str | None:
    """The Message-ID of the message a report is about: the attached message or its
    headers, else the first `Message-ID:` line quoted in a text part that is not the
    report's own."""
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                value = inner[0].get("Message-ID")
                if value:
                    return str(value).strip()
        elif ctype in ("text/rfc822-headers", "text/plain"):
            text = _text(part)
            for match in _MESSAGE_ID.finditer(text):
                if match.group(1) != own_id:
                    return match.group(1)
    return None


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _bounce_type(status: str | None, action: str | None, text: str) -> str:
    if status:
        return "hard" if status.startswith("5") else "soft"
    if action and action.lower() in ("delayed", "relayed"):
        return "soft"
    lowered = text.lower()
    if any(p in lowered for p in _SOFT_PHRASES) and not any(p in lowered for p in _HARD_PHRASES):
        return "soft"
    return "hard"


def parse_dsn(message: Message) -> BounceReport | None:
    """A structured DSN (`multipart/report; report-type=delivery-status`): the first
    recipient block whose action is failed or delayed (else the first one)."""
    if message.get_content_type() != "multipart/report":
        return None
    if _param(message, "report-type") != "delivery-status":
        return None
    own = str(message.get("Message-ID") or "").strip() or None
    for part in message.walk():
        if part.get_content_type() not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        blocks = _fields(part)
        recipients = [b for b in blocks[1:] if b.get("Final-Recipient") or b.get("Status")]
        if not recipients:
            recipients = [b for b in blocks if b.get("Final-Recipient") or b.get("Status")]
        if not recipients:
            continue
        failed = [
            b for b in recipients if str(b.get("Action", "")).lower() in ("failed", "delayed")
        ]
        block = (failed or recipients)[0]
        status_match = _ENHANCED.search(str(block.get("Status") or ""))
        status = status_match.group(0) if status_match else None
        diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split()) or None
        if status is None and diagnostic:
            found = _ENHANCED.search(diagnostic)
            status = found.group(0) if found else None
        action = str(block.get("Action") or "") or None
        if status is not None and status.startswith("2"):
            return None  # a delivery report of success is not a bounce
        recipient = _address_of(str(block.get("Final-Recipient") or "")) or _address_of(
            str(block.get("Original-Recipient") or "")
        )
        return BounceReport(
            _bounce_type(status, action, diagnostic or ""),
            status,
            recipient,
            diagnostic,
            _original_message_id(message, own),
            "dsn",
        )
    return None


def looks_like_bounce(sender: str, subject: str, return_path: str | None) -> bool:
    """Heuristics for a non-standard bounce: the null reverse path, a daemon sender or a
    bounce subject."""
    lowered_sender = sender.lower()
    lowered_subject = subject.lower()
    null_path = return_path is not None and return_path.strip() in ("<>", "")
    return (
        null_path
        or any(d in lowered_sender for d in _DAEMON_SENDERS)
        or any(s in lowered_subject for s in _BOUNCE_SUBJECTS)
    )


def parse_plain_bounce(message: Message, text: str, own_id: str | None) -> BounceReport | None:
    """A bounce written as prose (qmail's "I'm afraid I wasn't able to deliver", Exim's
    "The following address(es) failed"): the failed address, the status and the
    diagnostic read from the text before the quoted original."""
    body = re.split(
        r"^-{2,}\s*(?:Below this line is a copy of the message|This is a copy of the message"
        r"|Original message|Forwarded message)",
        text,
        maxsplit=1,
        flags=re.IGNORECASE | re.MULTILINE,
    )[0]
    lowered = body.lower()
    markers = (
        "wasn't able to deliver",
        "could not be delivered",
        "following address(es) failed",
        "following addresses had permanent",
        "delivery to the following recipient",
        "undeliverable",
        "permanent error",
        "temporary error",
        "unable to deliver",
        "delivery has failed",
        "message not delivered",
        "couldn't be delivered",
    )
    if not any(m in lowered for m in markers):
        return None
    status_match = _ENHANCED.search(body)
    status = status_match.group(0) if status_match else None
    if status is not None and status.startswith("2"):
        status = None
    diagnostic_line = None
    for line in body.splitlines():
        stripped = line.strip()
        if (status and status in stripped) or _BASIC.match(" " + stripped):
            diagnostic_line = stripped
            break
    if status is None:
        basic = _BASIC.search(body)
        if basic:
            status = f"{basic.group(1)}.0.0"
    sender_domains = {_address_of(str(message.get("From") or "")) or ""}
    recipient = None
    for match in _ADDRESS.finditer(body):
        address = match.group(1).lower()
        if address not in sender_domains and not address.startswith(
            ("mailer-daemon", "postmaster")
        ):
            recipient = address
            break
    return BounceReport(
        _bounce_type(status, None, body),
        status,
        recipient,
        diagnostic_line,
        _original_message_id(message, own_id),
        "plain",
    )


def parse_arf(message: Message) -> ComplaintReport | None:
    """A feedback report (`multipart/report; report-type=feedback-report`)."""
    if message.get_content_type() != "multipart/report":
        return None
    if _param(message, "report-type") != "feedback-report":
        return None
    own = str(message.get("Message-ID") or "").strip() or None
    feedback_type = "abuse"
    recipient = None
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        for block in _fields(part):
            if block.get("Feedback-Type"):
                feedback_type = str(block.get("Feedback-Type")).strip().lower()
            recipient = recipient or _address_of(str(block.get("Original-Rcpt-To") or ""))
    return ComplaintReport(feedback_type, recipient, _original_message_id(message, own))


__all__ = [
    "BounceReport",
    "ComplaintReport",
    "looks_like_bounce",
    "parse_arf",
    "parse_dsn",
    "parse_plain_bounce",
]
