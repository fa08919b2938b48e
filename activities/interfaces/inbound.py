"""Inputs, outputs and names of the inbound-mail activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field

POLL_MAILBOX_INBOX = "poll_mailbox_inbox"
# The inbox workflow's signal: poll now (a mailbox became active, an operator asked).
SIGNAL_WAKE = "wake"

# What a poll found the mailbox to be.
MAILBOX_ACTIVE = "active"
MAILBOX_INACTIVE = "inactive"  # not `active`: the workflow waits, it does not poll
MAILBOX_GONE = "gone"  # deleted: the workflow ends
MAILBOX_UNREACHABLE = "unreachable"  # IMAP refused or failed: tried again next interval

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class PollInboxInput:
    tenant_id: str
    email_account_id: str
    folder: str = "INBOX"
    with_spam: bool = True  # INBOX: the spam folders too, each from its own checkpoint
    max_messages: int = 100  # per poll; more are taken by the next one at once
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # above it: stored cut, unclassified


@dataclass(frozen=True)
class LeadFactOut:
    """A fact for a lead's sequences (`reply`, `unsubscribe`, `bounce`, `complaint`,
    `out_of_office`): the workflow signals each campaign's lead workflow."""

    lead_id: str
    signal: str
    detail: str
    campaign_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PollInboxOutput:
    mailbox: str  # MAILBOX_*
    fetched: int = 0
    recorded: int = 0  # new inbound rows (a message seen before is not counted)
    more: bool = False  # messages are waiting beyond max_messages
    facts: list[LeadFactOut] = field(default_factory=list)
    note: str = ""
