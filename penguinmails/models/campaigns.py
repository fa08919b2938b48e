"""Campaigns, their sequence steps, the outbox (`inbox_message_refs`) and the per-mailbox
daily counters behind the capacity contract.

`inbox_message_refs` is the outbox of DESIGN "Outbox" (the guide's `emails` is folded into
it): an outbound row is inserted `reserved` with a deterministic `message_id` before SMTP,
then moves to `sent` (or `failed`/`bounced`, or `unknown` when a retry cannot tell).
Outbound rows are unique on `message_id` and on (campaign, lead, step); inbound rows
(replies, bounces) have no step and are unique per mailbox on their Message-ID. Both are
partial unique indexes in the migration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from sqlalchemy import UniqueConstraint

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    id_field,
    jsonb_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "completed", "cancelled")
STEP_TYPES = ("email", "wait", "condition")
CONDITION_TYPES = ("always", "no_reply", "no_open", "no_click")
DIRECTIONS = ("inbound", "outbound")
MESSAGE_TYPES = ("email", "bounce", "auto_reply", "complaint")
MESSAGE_STATUSES = (
    "queued",
    "reserved",
    "sent",
    "delivered",
    "bounced",
    "failed",
    "unknown",
    "opened",
    "replied",
    "received",
)


class Campaign(TenantScoped, Timestamped, table=True):
    __tablename__ = "campaigns"
    __table_args__ = tenant_table_args(
        "campaigns", tenant_fk("campaigns", "company_id", "companies")
    )

    id: UUID = id_field()
    company_id: UUID
    name: str
    description: str | None = None
    status: str = "draft"
    # Sending window, days, holidays and other engine settings (validated by the API).
    configuration: dict[str, Any] = jsonb_field()
    daily_limit: int | None = None  # the campaign's own cap, on top of each mailbox's
    scheduled_at: dt.datetime | None = timestamp_field()
    started_at: dt.datetime | None = timestamp_field()
    completed_at: dt.datetime | None = timestamp_field()


class CampaignSequenceStep(TenantScoped, Timestamped, table=True):
    """`step_order` is unique per campaign (DEFERRABLE, so steps can be reordered in one
    transaction after `SET CONSTRAINTS ... DEFERRED`)."""

    __tablename__ = "campaign_sequence_steps"
    __table_args__ = tenant_table_args(
        "campaign_sequence_steps",
        UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "step_order",
            name="uq_campaign_sequence_steps_campaign_order",
            deferrable=True,
            initially="IMMEDIATE",
        ),
        tenant_fk("campaign_sequence_steps", "campaign_id", "campaigns", ondelete="CASCADE"),
        tenant_fk("campaign_sequence_steps", "email_account_id", "email_accounts"),
        tenant_fk("campaign_sequence_steps", "template_id", "templates"),
    )

    id: UUID = id_field()
    campaign_id: UUID
    step_order: int
    step_type: str
    email_account_id: UUID | None = None
    template_id: UUID | None = None
    subject_override: str | None = None
    from_name_override: str | None = None
    wait_duration_hours: int | None = None
    wait_until_date: dt.datetime | None = timestamp_field()
    condition_type: str | None = None
    condition_value: str | None = None
    send_condition: str | None = None
    is_active: bool = True
    executed_count: int = 0
    last_executed_at: dt.datetime | None = timestamp_field()


class InboxMessageRef(TenantScoped, Timestamped, table=True):
    __tablename__ = "inbox_message_refs"
    __table_args__ = tenant_table_args(
        "inbox_message_refs",
        tenant_fk("inbox_message_refs", "email_account_id", "email_accounts"),
        tenant_fk("inbox_message_refs", "campaign_id", "campaigns"),
        tenant_fk("inbox_message_refs", "lead_id", "leads"),
        tenant_fk("inbox_message_refs", "step_id", "campaign_sequence_steps"),
        tenant_fk("inbox_message_refs", "parent_message_id", "inbox_message_refs"),
    )

    id: UUID = id_field()
    email_account_id: UUID
    campaign_id: UUID | None = None
    lead_id: UUID | None = None
    step_id: UUID | None = None
    parent_message_id: UUID | None = None  # threading: the row this one answers
    direction: str
    message_type: str = "email"
    message_id: str  # RFC 5322 Message-ID; deterministic for outbound rows
    in_reply_to: str | None = None
    from_email: str | None = None
    to_email: str | None = None
    subject: str | None = None
    status: str = "queued"
    content_storage_key: str | None = None  # the raw MIME in the content store
    error_message: str | None = None
    bounce_type: str | None = None
    bounce_reason: str | None = None
    sent_at: dt.datetime | None = timestamp_field()
    opened_at: dt.datetime | None = timestamp_field()
    clicked_at: dt.datetime | None = timestamp_field()
    replied_at: dt.datetime | None = timestamp_field()
    bounced_at: dt.datetime | None = timestamp_field()
    processed_at: dt.datetime | None = timestamp_field()


class MailboxDailyCounter(TenantScoped, Timestamped, table=True):
    """Sends taken by one mailbox on one day (the day in the mailbox's own time zone). A
    send takes a slot with a conditional `UPDATE ... SET sent_count = sent_count + 1 WHERE
    sent_count < cap`."""

    __tablename__ = "mailbox_daily_counters"
    __table_args__ = tenant_table_args(
        "mailbox_daily_counters",
        UniqueConstraint(
            "tenant_id", "email_account_id", "day", name="uq_mailbox_daily_counters_account_day"
        ),
        tenant_fk(
            "mailbox_daily_counters", "email_account_id", "email_accounts", ondelete="CASCADE"
        ),
    )

    id: UUID = id_field()
    email_account_id: UUID
    day: dt.date
    sent_count: int = 0


__all__ = [
    "CAMPAIGN_STATUSES",
    "CONDITION_TYPES",
    "DIRECTIONS",
    "MESSAGE_STATUSES",
    "MESSAGE_TYPES",
    "STEP_TYPES",
    "Campaign",
    "CampaignSequenceStep",
    "InboxMessageRef",
    "MailboxDailyCounter",
]
