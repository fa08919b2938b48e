from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from penguinmails.mail.reply_text import CATEGORIES

if TYPE_CHECKING:
    Category = str
else:
    Category = Literal[CATEGORIES]


class SentMessage(BaseModel):
    """What we sent that the reply answers."""

    id: UUID
    message_id: str
    subject: str | None
    sent_at: datetime | None


class InboxItem(BaseModel):
    id: UUID
    received: datetime
    mailbox_id: UUID
    campaign_id: UUID | None
    lead_id: UUID | None
    message_id: str
    from_email: str | None
    subject: str | None
    classification: str  # reply, unsubscribe, auto_reply
    category: str | None
    category_confidence: float | None
    category_source: str | None  # rules, or tenant once re-labelled
    read: bool
    sent: SentMessage | None
    thread_size: int  # messages in the lead's thread in this campaign, ours included


class ThreadMessage(BaseModel):
    id: UUID
    direction: str
    message_id: str
    from_email: str | None
    to_email: str | None
    subject: str | None
    status: str
    classification: str | None
    category: str | None
    parent_id: UUID | None
    at: datetime
    text: str | None  # an inbound message's new text (quoted history cut)


class InboxThread(BaseModel):
    item: InboxItem
    messages: list[ThreadMessage]


class InboxUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    read: bool | None = None


class InboxAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000)


class InboxAnswerResult(BaseModel):
    id: UUID
    message_id: str
    status: str  # sent or failed
    error: str | None
    sent_at: datetime | None
    in_reply_to: UUID  # the inbound message answered


class NotificationPublic(BaseModel):
    id: UUID
    type: str
    title: str
    message: str
    severity: str
    read: bool
    created: datetime
