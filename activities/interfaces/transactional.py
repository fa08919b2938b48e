"""The sender of the platform's own e-mail: its activity's name and dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

SEND_TRANSACTIONAL_EMAILS = "send_transactional_emails"


@dataclass(frozen=True)
class SendDueInput:
    limit: int = 200  # messages per run; the next run takes the rest


@dataclass(frozen=True)
class SendDueOutput:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
