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

from sqlalchemy import ARRAY, Column, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlmodel import Field

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
# Who paused a campaign or a mailbox; it stays paused while any reason holds (migration 0008).
PAUSE_REASONS = ("user", "billing", "breaker", "suspension")
ENROLLMENT_STATUSES = (
    "pending",
    "active",
    "paused",
    "completed",
    "replied",
    "unsubscribed",
    "bounced",
    "complained",
    "stopped",
    "removed",
    "failed",
)
# An enrollment in one of these still holds the lead (at most one per tenant by default).
OPEN_ENROLLMENT_STATUSES = ("pending", "active", "paused")
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
    "deferred",  # never reached DATA: its slots were given back, to be reserved again
)


def pause_reasons_field() -> Any:
    return Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text()), nullable=False, server_default=text("'{}'")),
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
    # Migration 0008.
    pause_reasons: list[str] = pause_reasons_field()
    stop_on_reply: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})
    stop_for_company: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    tracking_enabled: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})
    timezone: str = Field(default="UTC", sa_column_kwargs={"server_default": "UTC"})


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
        tenant_fk("inbox_message_refs", "variant_id", "campaign_step_variants"),
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
    # Migration 0008: the variant sent, test sends, the slot keys a give-back returns.
    variant_id: UUID | None = None
    is_test: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    slot_day: dt.date | None = None
    campaign_day: dt.date | None = None
    slot_month: dt.date | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Migration 0010: what the inbound classifier said, the reply's category, read state.
    classification: str | None = None
    classification_reason: str | None = None
    category: str | None = None
    category_confidence: float | None = Field(default=None, sa_type=DOUBLE_PRECISION)
    category_source: str | None = None  # rules | tenant
    read_at: dt.datetime | None = timestamp_field()


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


class CampaignMailbox(TenantScoped, Timestamped, table=True):
    """A mailbox a campaign rotates its first touches over."""

    __tablename__ = "campaign_mailboxes"
    __table_args__ = tenant_table_args(
        "campaign_mailboxes",
        UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "email_account_id",
            name="uq_campaign_mailboxes_campaign_account",
        ),
        tenant_fk("campaign_mailboxes", "campaign_id", "campaigns", ondelete="CASCADE"),
        tenant_fk("campaign_mailboxes", "email_account_id", "email_accounts"),
    )

    id: UUID = id_field()
    campaign_id: UUID
    email_account_id: UUID
    weight: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class CampaignStepVariant(TenantScoped, Timestamped, table=True):
    """One of 2-5 A/B variants of an e-mail step: its subject and/or template, its weight."""

    __tablename__ = "campaign_step_variants"
    __table_args__ = tenant_table_args(
        "campaign_step_variants",
        UniqueConstraint(
            "tenant_id", "step_id", "position", name="uq_campaign_step_variants_step_position"
        ),
        tenant_fk("campaign_step_variants", "campaign_id", "campaigns", ondelete="CASCADE"),
        tenant_fk(
            "campaign_step_variants", "step_id", "campaign_sequence_steps", ondelete="CASCADE"
        ),
        tenant_fk("campaign_step_variants", "template_id", "templates"),
    )

    id: UUID = id_field()
    campaign_id: UUID
    step_id: UUID
    position: int
    label: str
    subject: str | None = None
    template_id: UUID | None = None
    weight: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})


class CampaignLead(TenantScoped, Timestamped, table=True):
    """A lead's place in a campaign (DESIGN "Enrollment")."""

    __tablename__ = "campaign_leads"
    __table_args__ = tenant_table_args(
        "campaign_leads",
        UniqueConstraint(
            "tenant_id", "campaign_id", "lead_id", name="uq_campaign_leads_campaign_lead"
        ),
        tenant_fk("campaign_leads", "campaign_id", "campaigns", ondelete="CASCADE"),
        tenant_fk("campaign_leads", "lead_id", "leads", ondelete="CASCADE"),
        tenant_fk("campaign_leads", "email_account_id", "email_accounts"),
    )

    id: UUID = id_field()
    campaign_id: UUID
    lead_id: UUID
    status: str = Field(default="pending", sa_column_kwargs={"server_default": "pending"})
    current_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    email_account_id: UUID | None = None  # the sticky mailbox, set by the first touch
    # Uniform in [0, 1), fixed at enrollment: picks the variant of every step with variants.
    variant_draw: float = Field(sa_type=DOUBLE_PRECISION)
    next_action_at: dt.datetime | None = timestamp_field()
    last_skip_reason: str | None = None
    started_at: dt.datetime | None = timestamp_field()
    finished_at: dt.datetime | None = timestamp_field()


class CampaignDailyCounter(TenantScoped, Timestamped, table=True):
    """Sends a campaign took on one day (its own time zone) against its daily limit."""

    __tablename__ = "campaign_daily_counters"
    __table_args__ = tenant_table_args(
        "campaign_daily_counters",
        UniqueConstraint(
            "tenant_id", "campaign_id", "day", name="uq_campaign_daily_counters_campaign_id_day"
        ),
        tenant_fk("campaign_daily_counters", "campaign_id", "campaigns", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    campaign_id: UUID
    day: dt.date
    sent_count: int = 0


class TenantMonthlyCounter(TenantScoped, Timestamped, table=True):
    """Sends a tenant took in one calendar month (UTC) against its plan."""

    __tablename__ = "tenant_monthly_counters"
    __table_args__ = tenant_table_args(
        "tenant_monthly_counters",
        UniqueConstraint("tenant_id", "month", name="uq_tenant_monthly_counters_month"),
    )

    id: UUID = id_field()
    month: dt.date
    sent_count: int = 0


__all__ = [
    "CAMPAIGN_STATUSES",
    "CONDITION_TYPES",
    "DIRECTIONS",
    "ENROLLMENT_STATUSES",
    "MESSAGE_STATUSES",
    "MESSAGE_TYPES",
    "OPEN_ENROLLMENT_STATUSES",
    "PAUSE_REASONS",
    "STEP_TYPES",
    "Campaign",
    "CampaignDailyCounter",
    "CampaignLead",
    "CampaignMailbox",
    "CampaignSequenceStep",
    "CampaignStepVariant",
    "InboxMessageRef",
    "MailboxDailyCounter",
    "TenantMonthlyCounter",
]
