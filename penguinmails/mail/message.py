"""Building one outbound message: the pure function the campaign engine calls.

`build_message(spec, token_key, dkim_key)` returns the wire bytes (CRLF) of a
multipart/alternative message whose

- text part is generated from the HTML (after link rewriting, so its links are tracked too);
- `Message-ID` is the outbox contract's deterministic id (`outbound_message_id`) on the
  sending domain;
- `List-Unsubscribe` carries an https URL and a mailto, with
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), and the body carries the
  same https link (where the HTML has `UNSUBSCRIBE_PLACEHOLDER`, else in a footer);
- links are rewritten to `/t/c/{token}` and an open pixel `/t/o/{token}` is added on the
  domain's tracking host, each switchable per campaign; tokens are `penguinmails.tokens`;
- follow-ups carry `In-Reply-To`, `References` and a `Re:` subject;
- DKIM signature (dkimpy, relaxed/relaxed) covers From, To, Subject, Date, Message-ID,
  List-Unsubscribe and List-Unsubscribe-Post, plus the threading and MIME headers present.

Headers are not folded below 998 octets: a folded `List-Unsubscribe` would otherwise be
turned into RFC 2047 encoded-words by the email package, which no client accepts there.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from urllib.parse import quote

from penguinmails import tokens
from penguinmails.mail import dkim_keys
from penguinmails.mail.html_text import html_to_text
from penguinmails.tokens import TokenClaims, TokenKind

POLICY = SMTP.clone(max_line_length=998)
UNSUBSCRIBE_PLACEHOLDER = "{{unsubscribe_url}}"
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1f0d3e-8a51-4c55-9d1b-5b8e1f3a7c20")
_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE | re.DOTALL
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def outbound_message_id(
    tenant_id: str, campaign_id: str, lead_id: str, step_id: str, domain: str
) -> str:
    """`<{hex}@{domain}>`: the same (tenant, campaign, lead, step) always gives the same id,
    so a retried send reuses it (the outbox's unique key and the Sent-folder search rely on
    it). The hex reveals nothing about the ids it comes from."""
    digest = hashlib.sha256(
        "\x1f".join((str(tenant_id), str(campaign_id), str(lead_id), str(step_id))).encode()
    ).hexdigest()[:32]
    return f"<{digest}.{uuid.uuid5(_MESSAGE_ID_NAMESPACE, digest).hex[:8]}@{domain.lower()}>"


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: str

    def __repr__(self) -> str:  # never print the private key
        return f"DkimKey(domain={self.domain!r}, selector={self.selector!r})"


@dataclass(frozen=True)
class MessageSpec:
    tenant_id: str
    message_id: str  # from `outbound_message_id`, with <>
    from_email: str
    to_email: str
    subject: str
    html: str
    date: datetime
    # The domain's tracking host, e.g. "https://track.example.com" (CNAME to the platform).
    tracking_base_url: str
    from_name: str | None = None
    to_name: str | None = None
    reply_to: str | None = None
    # Message-IDs of the earlier messages of the thread, oldest first (follow-ups).
    thread: Sequence[str] = field(default_factory=tuple)
    track_opens: bool = True
    track_clicks: bool = True
    # The mailto of List-Unsubscribe; `unsubscribe@{from domain}` when not given.
    unsubscribe_mailbox: str | None = None
    feedback_id: str | None = None


@dataclass(frozen=True)
class BuiltMessage:
    raw: bytes
    message_id: str
    unsubscribe_url: str
    tracked_links: dict[str, str]  # original URL -> tracked URL


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def _address(email: str, name: str | None) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def thread_subject(subject: str, thread: Sequence[str]) -> str:
    if thread and not re.match(r"^\s*re\s*:", subject, re.IGNORECASE):
        return f"Re: {subject}"
    return subject


def _rewrite_links(html_body: str, rewrite: dict[str, str], make: object) -> str:
    def replace(match: re.Match[str]) -> str:
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        url = html.unescape(raw).strip()
        if not re.match(r"^https?://", url, re.IGNORECASE) or url in rewrite.values():
            return match.group(0)
        tracked = rewrite.get(url)
        if tracked is None:
            tracked = make(url)  # type: ignore[operator]
            rewrite[url] = tracked
        return f'{match.group(1)}"{html.escape(tracked, quote=True)}"'

    return _HREF.sub(replace, html_body)


def _insert_before_body_end(html_body: str, fragment: str) -> str:
    matches = list(_BODY_END.finditer(html_body))
    if matches:
        at = matches[-1].start()
        return html_body[:at] + fragment + html_body[at:]
    return html_body + fragment


def build_message(
    spec: MessageSpec, token_key: bytes, dkim_key: DkimKey | None = None
) -> BuiltMessage:
    sending_domain = _domain_of(spec.from_email)
    if not spec.message_id.startswith("<") or not spec.message_id.endswith(">"):
        raise ValueError("message_id must be in angle brackets")
    base = spec.tracking_base_url.rstrip("/")

    def token(kind: TokenKind, url: str | None = None) -> str:
        return tokens.sign(token_key, TokenClaims(spec.tenant_id, spec.message_id, kind, url))

    unsubscribe_token = token(TokenKind.UNSUBSCRIBE)
    unsubscribe_url = f"{base}/u/{unsubscribe_token}"
    mailbox = spec.unsubscribe_mailbox or f"unsubscribe@{sending_domain}"
    unsubscribe_mailto = f"mailto:{mailbox}?subject={quote('unsubscribe ' + unsubscribe_token)}"

    body = spec.html
    tracked: dict[str, str] = {}
    if spec.track_clicks:
        body = _rewrite_links(
            body, tracked, lambda url: f"{base}/t/c/{token(TokenKind.CLICK, url)}"
        )
    escaped_unsubscribe = html.escape(unsubscribe_url, quote=True)
    if UNSUBSCRIBE_PLACEHOLDER in body:
        body = body.replace(UNSUBSCRIBE_PLACEHOLDER, escaped_unsubscribe)
    else:
        body = _insert_before_body_end(
            body,
            '<p style="font-size:12px;color:#888888">If you would rather not hear from me, '
            f'<a href="{escaped_unsubscribe}">unsubscribe here</a>.</p>',
        )
    text = html_to_text(body)
    if spec.track_opens:
        pixel = html.escape(f"{base}/t/o/{token(TokenKind.OPEN)}", quote=True)
        body = _insert_before_body_end(
            body, f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">'
        )

    msg = EmailMessage(policy=POLICY)
    msg["From"] = _address(spec.from_email, spec.from_name)
    msg["To"] = _address(spec.to_email, spec.to_name)
    msg["Subject"] = thread_subject(spec.subject, spec.thread)
    msg["Date"] = format_datetime(spec.date.astimezone(UTC), usegmt=True)
    msg["Message-ID"] = spec.message_id
    if spec.reply_to:
        msg["Reply-To"] = spec.reply_to
    if spec.thread:
        msg["In-Reply-To"] = spec.thread[-1]
        msg["References"] = " ".join(spec.thread)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <{unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if spec.feedback_id:
        msg["Feedback-ID"] = spec.feedback_id
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(body, subtype="html", charset="utf-8", cte="quoted-printable")

    raw = msg.as_bytes(policy=POLICY)
    if dkim_key is not None:
        if dkim_key.domain.lower() != sending_domain:
            raise ValueError("the DKIM domain must be the From domain (DMARC alignment)")
        raw = (
            dkim_keys.sign(
                raw,
                domain=dkim_key.domain.lower(),
                selector=dkim_key.selector,
                private_pem=dkim_key.private_pem,
            )
            + raw
        )
    return BuiltMessage(
        raw=raw, message_id=spec.message_id, unsubscribe_url=unsubscribe_url, tracked_links=tracked
    )


__all__ = [
    "UNSUBSCRIBE_PLACEHOLDER",
    "BuiltMessage",
    "DkimKey",
    "MessageSpec",
    "build_message",
    "outbound_message_id",
    "thread_subject",
]
