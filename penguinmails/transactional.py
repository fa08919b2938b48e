"""The platform's own e-mail to its customers (sign-up, payments, dunning, a finished
campaign, API keys): kinds, templates, rendering, retry schedule.

The message is queued as a `transactional_emails` row in the same transaction as the fact
it tells (the payment recorded, the key created), with a `dedup_key` unique per tenant, so
a retried activity or a repeated request queues it once. A Temporal Schedule sends what is
due through the platform's SMTP server (`activities/transactional.py`). These messages
never go through the campaign outbox: they take no sending slot and count against no plan
limit.

Templates are Jinja files in `data/emails/<kind>.txt`: the first line is the subject, the
rest (after one blank line) the plain-text body. Undefined variables fail the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "data" / "emails"

# kind -> the payload fields its template uses
KINDS: dict[str, tuple[str, ...]] = {
    "welcome": ("tenant_name",),
    "invoice_paid": ("invoice_id", "amount", "currency"),
    "payment_failed": ("invoice_id", "amount", "currency"),
    "dunning_notice": ("day", "grace_ends"),
    "campaign_finished": ("campaign_name",),
    "api_key_created": ("key_name", "key_prefix"),
    "api_key_revoked": ("key_name", "key_prefix"),
}

# Attempts before a message is `failed`, and the wait after each failed one (doubling from
# one minute to four hours: about a day in all).
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=4)

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,  # noqa: S701 — plain text, never HTML
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


def render(kind: str, payload: dict[str, Any]) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown transactional e-mail kind {kind!r}")
    out = _env.get_template(f"{kind}.txt").render(**payload)
    subject, _, body = out.partition("\n")
    return Rendered(" ".join(subject.split()), body.lstrip("\n"))


def build_message(
    rendered: Rendered, sender: str, to: str, message_id: str, kind: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    # Auto-generated account mail: no vacation replies, no bulk-mail treatment.
    message["Auto-Submitted"] = "auto-generated"
    message["X-PenguinMails-Kind"] = kind
    message.set_content(rendered.text)
    return message


def message_id(email_id: str, domain: str) -> str:
    """Deterministic per queued row: a message sent twice (a crash after the server's 250)
    carries the same Message-ID, so a receiving system can tell."""
    return f"<transactional.{email_id}@{domain}>"


def retry_after(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    wait: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(wait, MAX_RETRY)


__all__ = [
    "KINDS",
    "MAX_ATTEMPTS",
    "Rendered",
    "build_message",
    "message_id",
    "render",
    "retry_after",
]
