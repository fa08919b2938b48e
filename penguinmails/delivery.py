"""Pure decisions of the delivery activity: which variant a lead gets, and whom an SMTP
answer blames (DESIGN rule 4 and the outbox contract's "Blame").

Blame follows the enhanced status code (RFC 3463) and the phase of the exchange:

- 5.1.x at RCPT: the recipient's address is bad: a hard bounce (the lead is marked bounced
  and suppressed). Nothing else blames the lead: a bare 550 without an enhanced code may
  as well be a policy refusal.
- a refused login (5xx at AUTH): the mailbox's credentials (`authentication_failed`).
- 5.7.x anywhere, any other 5xx at connect, HELO, MAIL, RCPT or DATA: the mailbox's or the
  content's fault (`mailbox_failure`); the send is deferred, its slots given back.
- 4xx anywhere, or no answer before DATA: transient (`smtp_transient`), retried on the same
  mailbox after a backoff.
- no answer during DATA: the server may have the message (`ambiguous`); the row stays
  reserved with its attempt counted, and the next call asks the mailbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, TypeVar

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class Blame(StrEnum):
    RECIPIENT = "recipient"  # hard bounce
    AUTHENTICATION = "authentication"
    MAILBOX = "mailbox"  # the mailbox's or the content's
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"  # lost during DATA: may have been delivered


def enhanced_status(message: str) -> tuple[int, int, int] | None:
    """The enhanced status code that starts an SMTP reply's text (`5.1.1 User unknown`)."""
    match = _ENHANCED.match(message or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def blame(code: int, message: str, stage: str, answered: bool = True) -> Blame:
    if not answered:
        return Blame.AMBIGUOUS if stage == "data" else Blame.TRANSIENT
    if 400 <= code < 500 or code == 0:
        return Blame.TRANSIENT
    enhanced = enhanced_status(message)
    if stage == "auth":
        return Blame.AUTHENTICATION
    if stage == "rcpt" and enhanced is not None and enhanced[:2] == (5, 1):
        return Blame.RECIPIENT
    return Blame.MAILBOX


class Weighted(Protocol):
    @property
    def weight(self) -> int: ...


V = TypeVar("V", bound=Weighted)


def pick_variant(variants: Sequence[V], draw: float) -> V | None:
    """The variant whose share of the total weight holds `draw` (in [0, 1)), in the order
    given (by position): the same draw always gives the same arm."""
    total = sum(max(v.weight, 0) for v in variants)
    if not variants or total <= 0:
        return None
    point = min(max(draw, 0.0), 0.999999999) * total
    running = 0.0
    for variant in variants:
        running += max(variant.weight, 0)
        if point < running:
            return variant
    return variants[-1]


__all__ = ["Blame", "blame", "enhanced_status", "pick_variant"]
