"""Sending infrastructure: domains, mailboxes (`email_accounts`), the VPS servers a tenant
rents, their sending IPs, and which IPs send for which domain.

All tenant-owned (the guide's ER diagram gives each tenant its VPS, and its indexes lead
with tenant_id on `vps_instances` and `smtp_ip_addresses`). What is unique in the world is
unique across tenants: a live domain, a live mailbox address, an IP in use, a provider's
instance id. Credentials and DKIM keys stay in Vault; rows keep `vault_key_path`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, BigInteger, Column, Text, UniqueConstraint, text
from sqlmodel import Field

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    id_field,
    inet_field,
    jsonb_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

VPS_PROVIDERS = ("hostwinds", "local")
VPS_STATUSES = ("provisioning", "active", "scheduled_decommission", "decommissioned", "failed")
IP_STATUSES = (
    "available",
    "assigned",
    "warming",
    "warmed",
    "degraded",
    "burned",
    "quarantined",
    "released",
)
REPUTATION_STATES = ("good", "fair", "poor", "critical")
DOMAIN_VERIFICATION_STATUSES = ("pending", "verifying", "verified", "failed")
EMAIL_ACCOUNT_STATUSES = (
    "active",
    "warming",
    "paused",
    "authentication_failed",
    "suspended",
    "deleted",
    "pending",  # never tested (migration 0004)
    "unreachable",  # the last test could not reach its SMTP or IMAP server
)
ASSIGNMENT_STATUSES = ("scheduled", "warming", "active", "expired")
WARMUP_STATES = ("unwarmed", "warming", "warmed")
WARMUP_STATUSES = ("active", "paused", "held", "completed", "stopped")
LIVE_WARMUP_STATUSES = ("active", "paused", "held")


class VpsInstance(TenantScoped, Timestamped, table=True):
    __tablename__ = "vps_instances"
    __table_args__ = tenant_table_args(
        "vps_instances",
        UniqueConstraint(
            "provider", "provider_instance_id", name="uq_vps_instances_provider_instance"
        ),
    )

    id: UUID = id_field()
    provider: str = "hostwinds"
    provider_instance_id: str | None = None  # the guide's hostwinds_instance_id
    ip_address: str | None = inet_field()
    region: str | None = None
    status: str = "provisioning"
    monthly_cost: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    billing_day: int | None = None  # day of month the provider bills (1-31)
    current_billing_period_start: datetime | None = timestamp_field()
    current_billing_period_end: datetime | None = timestamp_field()
    decommission_scheduled_for: datetime | None = timestamp_field()
    last_error: str | None = None  # migration 0011: why a lifecycle step failed


class SmtpIpAddress(TenantScoped, Timestamped, table=True):
    __tablename__ = "smtp_ip_addresses"
    __table_args__ = tenant_table_args(
        "smtp_ip_addresses", tenant_fk("smtp_ip_addresses", "vps_instance_id", "vps_instances")
    )

    id: UUID = id_field()
    vps_instance_id: UUID
    ip_address: str = inet_field(nullable=False)
    status: str = "available"
    reputation_state: str = "good"
    last_reputation_check_at: datetime | None = timestamp_field()
    assigned_count: int = 0
    provider_blacklist_status: dict[str, Any] = jsonb_field()
    # Migration 0011: reverse DNS set at the provider, and the HELO name (the PTR name).
    ptr_name: str | None = None
    helo_name: str | None = None
    # Migration 0019: `dedicated` (sends for its owner only) or `shared` (the platform's
    # pool: any tenant's domain may be assigned to it through `shared_ip_address_id`).
    pool: str = Field(default="dedicated", sa_column_kwargs={"server_default": "dedicated"})


class Domain(TenantScoped, Timestamped, table=True):
    """`domain` is lower-case and unique among live rows across all tenants (a conflict is
    the one case the API answers 409 for another tenant's row)."""

    __tablename__ = "domains"
    __table_args__ = tenant_table_args("domains", tenant_fk("domains", "company_id", "companies"))

    id: UUID = id_field()
    company_id: UUID
    domain: str
    verification_status: str = "pending"
    dns_records: dict[str, Any] = jsonb_field()  # the records expected for verification
    dkim_selector: str | None = None
    vault_key_path: str | None = None  # the DKIM private key
    is_primary: bool = False
    verified_at: datetime | None = timestamp_field()
    last_checked_at: datetime | None = timestamp_field()
    deleted: datetime | None = timestamp_field()


class EmailAccount(TenantScoped, Timestamped, table=True):
    """A mailbox. `daily_cap` and `timezone` feed the capacity function; the day of its
    counter runs midnight to midnight in `timezone`."""

    __tablename__ = "email_accounts"
    __table_args__ = tenant_table_args(
        "email_accounts", tenant_fk("email_accounts", "domain_id", "domains")
    )

    id: UUID = id_field()
    domain_id: UUID
    email: str
    from_name: str | None = None
    provider: str = "mailu"
    vault_key_path: str  # SMTP/IMAP credentials
    imap_settings: dict[str, Any] = jsonb_field()
    smtp_settings: dict[str, Any] = jsonb_field()
    status: str = "active"
    daily_cap: int = 50
    timezone: str = "UTC"
    last_warmed_at: datetime | None = timestamp_field()
    deleted: datetime | None = timestamp_field()
    # Migration 0004: gap between sends (+ random jitter), default window, signature, and
    # the result of the last login test.
    min_gap_seconds: int = Field(default=60, sa_column_kwargs={"server_default": "60"})
    gap_jitter_seconds: int = Field(default=30, sa_column_kwargs={"server_default": "30"})
    sending_window: dict[str, Any] = jsonb_field()
    signature: str | None = None
    last_tested_at: datetime | None = timestamp_field()
    last_test_result: dict[str, Any] = jsonb_field()
    # Migration 0008: paused while any reason holds; the earliest next send (the gap).
    pause_reasons: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text()), nullable=False, server_default=text("'{}'")),
    )
    next_send_at: datetime | None = timestamp_field()


class MailboxInboxCheckpoint(TenantScoped, Timestamped, table=True):
    """Where a mailbox's inbox poll resumes: the folder's UIDVALIDITY and the last UID
    processed (migration 0010). A new UIDVALIDITY restarts the folder from UID 1."""

    __tablename__ = "mailbox_inbox_checkpoints"
    __table_args__ = tenant_table_args(
        "mailbox_inbox_checkpoints",
        UniqueConstraint(
            "tenant_id",
            "email_account_id",
            "folder",
            name="uq_mailbox_inbox_checkpoints_account_folder",
        ),
        tenant_fk(
            "mailbox_inbox_checkpoints", "email_account_id", "email_accounts", ondelete="CASCADE"
        ),
    )

    id: UUID = id_field()
    email_account_id: UUID
    folder: str = Field(default="INBOX", sa_column_kwargs={"server_default": "INBOX"})
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class DomainIpAssignment(TenantScoped, Timestamped, table=True):
    __tablename__ = "domain_ip_assignments"
    __table_args__ = tenant_table_args(
        "domain_ip_assignments",
        tenant_fk("domain_ip_assignments", "domain_id", "domains", ondelete="CASCADE"),
        tenant_fk("domain_ip_assignments", "smtp_ip_address_id", "smtp_ip_addresses"),
    )

    id: UUID = id_field()
    domain_id: UUID
    # Exactly one of them (migration 0019): the tenant's own IP, or a shared pool IP (a
    # plain key the tenant cannot follow: the row it names is the platform's).
    smtp_ip_address_id: UUID | None = None
    shared_ip_address_id: UUID | None = Field(default=None, foreign_key="smtp_ip_addresses.id")
    status: str = "scheduled"
    assigned_at: datetime | None = timestamp_field()
    expires_at: datetime | None = timestamp_field()  # planned rotations
    warmup_state: str = "unwarmed"
    last_sent_at: datetime | None = timestamp_field()


class Warmup(TenantScoped, Timestamped, table=True):
    """A warmup of one mailbox or one IP (migration 0011). `today_cap` is what the ramp
    allows on `cap_date`; the capacity function reads it in the send transaction."""

    __tablename__ = "warmups"
    __table_args__ = tenant_table_args(
        "warmups",
        tenant_fk("warmups", "email_account_id", "email_accounts"),
        tenant_fk("warmups", "smtp_ip_address_id", "smtp_ip_addresses"),
    )

    id: UUID = id_field()
    email_account_id: UUID | None = None
    smtp_ip_address_id: UUID | None = None
    status: str = "active"
    curve: dict[str, Any] = jsonb_field()
    day: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    today_cap: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    cap_date: date | None = None
    last_reason: str | None = None
    ended: datetime | None = timestamp_field()
    # In the platform-wide warmup pool (migration 0018): exchanges warmup messages.
    pool: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


__all__ = [
    "ASSIGNMENT_STATUSES",
    "DOMAIN_VERIFICATION_STATUSES",
    "EMAIL_ACCOUNT_STATUSES",
    "IP_STATUSES",
    "LIVE_WARMUP_STATUSES",
    "REPUTATION_STATES",
    "VPS_PROVIDERS",
    "VPS_STATUSES",
    "WARMUP_STATES",
    "WARMUP_STATUSES",
    "Domain",
    "DomainIpAssignment",
    "EmailAccount",
    "MailboxInboxCheckpoint",
    "SmtpIpAddress",
    "VpsInstance",
    "Warmup",
]
