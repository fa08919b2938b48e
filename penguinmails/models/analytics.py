"""The analytics database: raw events and daily roll-ups, in a metadata of their own.

Every event arrives through one Redis stream (DESIGN "Events"); its producer assigns the
row's `id`, so ingesting an entry twice is an `ON CONFLICT (id) DO NOTHING`. Sends are
events too, so roll-ups never join across the two databases. Ids of OLTP rows
(`email_id` = `inbox_message_refs.id`, `campaign_id`, `step_id`, `mailbox_id` =
`email_accounts.id`, `lead_id`) are plain UUIDs here: no foreign keys across databases.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

from sqlalchemy import Numeric, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from penguinmails.models.base import (
    created_field,
    generated_field,
    id_field,
    inet_field,
    now_field,
    timestamp_field,
    updated_field,
)

BOUNCE_TYPES = ("hard", "soft")
WARMUP_INTERACTION_TYPES = (
    "sent",
    "received",
    "opened",
    "replied",
    "moved_to_inbox",
    "marked_not_spam",
)


class AnalyticsModel(SQLModel, registry=registry()):
    """Base of the analytics tables: `AnalyticsModel.metadata` is the analytics database."""


class _Event(AnalyticsModel):
    id: UUID = id_field()
    tenant_id: UUID
    email_id: UUID
    campaign_id: UUID | None = None
    step_id: UUID | None = None
    mailbox_id: UUID | None = None
    lead_id: UUID | None = None
    variant_id: UUID | None = None  # the step's A/B variant (migration a0002)
    created: dt.datetime = created_field()


class EmailSend(_Event, table=True):
    __tablename__ = "email_sends"

    sent: dt.datetime = now_field()


class EmailOpen(_Event, table=True):
    __tablename__ = "email_opens"

    opened: dt.datetime = now_field()
    ip_address: str | None = inet_field()
    user_agent: str | None = None
    bot: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


class EmailClick(_Event, table=True):
    __tablename__ = "email_clicks"

    clicked_url: str
    clicked: dt.datetime = now_field()
    ip_address: str | None = inet_field()
    user_agent: str | None = None
    bot: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


class EmailBounce(_Event, table=True):
    __tablename__ = "email_bounces"

    bounce_type: str
    bounce_reason: str | None = None
    bounced: dt.datetime = now_field()


class EmailReply(_Event, table=True):
    __tablename__ = "email_replies"

    message_id: str | None = None  # the reply's own Message-ID
    replied: dt.datetime = now_field()


class EmailComplaint(_Event, table=True):
    __tablename__ = "email_complaints"

    feedback_type: str | None = None  # ARF Feedback-Type
    complained: dt.datetime = now_field()


def _rate(count: str) -> str:
    # NUMERIC(14,2): INTEGER counters bound the ratio by 2^31 * 100, which has 12 digits, so
    # no rate can overflow (the guide's DECIMAL(5,2) fails at 1000%, e.g. 11 opens of 1 send).
    return (
        f"CASE WHEN emails_sent > 0 THEN round(({count}::numeric / emails_sent) * 100, 2) "
        "ELSE 0 END"
    )


class EmailUnsubscribe(_Event, table=True):
    """Migration a0003: one per message (the event id is derived from the outbox id)."""

    __tablename__ = "email_unsubscribes"

    via: str | None = None
    unsubscribed: dt.datetime = now_field()


class EmailEngagement(AnalyticsModel, table=True):
    """Migration a0003: one row per sent message, the day it counts on (its send day in the
    tenant's zone) and its first human engagement of each kind: the unique numerators."""

    __tablename__ = "email_engagement"

    tenant_id: UUID = Field(primary_key=True)
    email_id: UUID = Field(primary_key=True)
    campaign_id: UUID | None = None
    step_id: UUID | None = None
    variant_id: UUID | None = None
    mailbox_id: UUID | None = None
    lead_id: UUID | None = None
    day: dt.date
    sent: dt.datetime | None = timestamp_field()
    first_opened: dt.datetime | None = timestamp_field()
    first_clicked: dt.datetime | None = timestamp_field()
    first_replied: dt.datetime | None = timestamp_field()
    first_bounced: dt.datetime | None = timestamp_field()
    first_complained: dt.datetime | None = timestamp_field()
    unsubscribed: dt.datetime | None = timestamp_field()
    created: dt.datetime = created_field()


class DailyAnalytics(AnalyticsModel, table=True):
    """One row per (tenant, campaign, step, mailbox, variant, day) the messages were sent
    on; a NULL dimension is the total over it, and `NULLS NOT DISTINCT` makes those rows
    unique too (an upsert target). `emails_opened`/`_clicked`/`_replied`/`_bounced`/
    `_complained` count messages (the rates' numerators, never above 100%); the `*_total`
    columns count human events, `bot_*` the bots'."""

    __tablename__ = "daily_analytics"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "step_id",
            "mailbox_id",
            "variant_id",
            "date",
            name="uq_daily_analytics_tenant_campaign_step_mailbox_variant_date",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: UUID = id_field()
    tenant_id: UUID
    campaign_id: UUID | None = None
    step_id: UUID | None = None
    mailbox_id: UUID | None = None
    variant_id: UUID | None = None  # migration a0003
    date: dt.date
    emails_sent: int = 0
    emails_opened: int = 0
    emails_clicked: int = 0
    emails_bounced: int = 0
    emails_replied: int = 0
    emails_complained: int = 0
    warmup_opens: int = 0
    warmup_replies: int = 0
    opens_total: int = 0
    clicks_total: int = 0
    replies_total: int = 0
    bot_opens: int = 0
    bot_clicks: int = 0
    emails_unsubscribed: int = 0
    open_rate: Decimal | None = generated_field(_rate("emails_opened"), Numeric(14, 2))
    click_rate: Decimal | None = generated_field(_rate("emails_clicked"), Numeric(14, 2))
    bounce_rate: Decimal | None = generated_field(_rate("emails_bounced"), Numeric(14, 2))
    reply_rate: Decimal | None = generated_field(_rate("emails_replied"), Numeric(14, 2))
    complaint_rate: Decimal | None = generated_field(_rate("emails_complained"), Numeric(14, 2))
    created: dt.datetime = created_field()
    updated: dt.datetime = updated_field()


class WarmupInteraction(AnalyticsModel, table=True):
    __tablename__ = "warmup_interactions"

    id: UUID = id_field()
    tenant_id: UUID
    mailbox_id: UUID
    interaction_type: str
    partner_mailbox: str | None = None  # the other address of the exchange
    message_id: str | None = None  # the warmup message (unique per mailbox and type)
    interaction: dt.datetime = now_field()
    created: dt.datetime = created_field()


class WarmupDailyStats(AnalyticsModel, table=True):
    __tablename__ = "warmup_daily_stats"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "mailbox_id", "date", name="uq_warmup_daily_stats_mailbox_date"
        ),
    )

    id: UUID = id_field()
    tenant_id: UUID
    mailbox_id: UUID
    date: dt.date
    emails_sent: int = 0
    opens_received: int = 0
    replies_received: int = 0
    rescued_from_spam: int = 0  # its messages partners found in spam
    reputation_score: int = 0
    created: dt.datetime = created_field()
    updated: dt.datetime = updated_field()


__all__ = [
    "BOUNCE_TYPES",
    "WARMUP_INTERACTION_TYPES",
    "AnalyticsModel",
    "DailyAnalytics",
    "EmailBounce",
    "EmailClick",
    "EmailComplaint",
    "EmailEngagement",
    "EmailOpen",
    "EmailReply",
    "EmailSend",
    "EmailUnsubscribe",
    "WarmupDailyStats",
    "WarmupInteraction",
]
