"""Tenancy: tenants, users and their membership, API keys, companies (workspaces),
per-tenant configuration and the one merged `tenant_policies`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    id_field,
    jsonb_field,
    timestamp_field,
)

ROLES = ("owner", "admin", "member")
COMPANY_STATUSES = ("active", "inactive", "archived")  # ck_companies_status


class Tenant(Timestamped, table=True):
    __tablename__ = "tenants"

    id: UUID = id_field()
    name: str
    compute_id: UUID | None = None
    deleted: datetime | None = timestamp_field()
    # Set by staff: the tenant's keys answer 403 `tenant_suspended`, its campaigns pause.
    suspended: datetime | None = timestamp_field()
    suspended_reason: str | None = None


class User(Timestamped, table=True):
    """Global: one person may belong to several tenants. No tenant writes here beyond
    creating the row for an address; what a tenant knows of a member is on `TenantUser`."""

    __tablename__ = "users"

    id: UUID = id_field()
    email: str = Field(unique=False)
    name: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    picture: str | None = None
    email_verified: datetime | None = timestamp_field()
    deleted: datetime | None = timestamp_field()


class TenantUser(TenantScoped, Timestamped, table=True):
    __tablename__ = "tenant_users"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_users_tenant", ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_tenant_users_user", ondelete="CASCADE"
        ),
    )

    tenant_id: UUID = Field(primary_key=True)
    user_id: UUID = Field(primary_key=True)
    roles: list[str] = jsonb_field(list)
    email: str | None = None  # the address this tenant invited
    name: str | None = None  # what this tenant calls the member; no other tenant sees it
    deleted: datetime | None = timestamp_field()


class ApiKey(TenantScoped, Timestamped, table=True):
    """Only a SHA-256 of the secret is stored; `prefix` is what the owner sees in lists."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id", name="uq_api_keys_tenant_id_id"),
        UniqueConstraint("prefix", name="uq_api_keys_prefix"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["tenant_users.tenant_id", "tenant_users.user_id"],
            name="fk_api_keys_tenant_user",
            ondelete="CASCADE",
        ),
    )

    id: UUID = id_field()
    user_id: UUID
    name: str
    prefix: str
    key_hash: str
    last_used: datetime | None = timestamp_field()
    revoked: datetime | None = timestamp_field()


class Company(TenantScoped, Timestamped, table=True):
    __tablename__ = "companies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id", name="uq_companies_tenant_id_id"),
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_companies_tenant", ondelete="CASCADE"
        ),
    )

    id: UUID = id_field()
    name: str
    domain: str | None = None
    industry: str | None = None
    size: str | None = None
    status: str = "active"
    is_default: bool = False
    deleted: datetime | None = timestamp_field()


class TenantConfig(TenantScoped, Timestamped, table=True):
    __tablename__ = "tenant_config"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_config_tenant", ondelete="CASCADE"
        ),
    )

    tenant_id: UUID = Field(primary_key=True)
    stripe_customer_id: str | None = None
    billing_email: str | None = None
    billing_address: dict[str, Any] = jsonb_field()
    notify_on_billing_changes: bool = False
    notify_on_system_updates: bool = False
    notify_on_security_alerts: bool = True
    theme_primary_color: str | None = None
    theme_logo_url: str | None = None
    theme_favicon_url: str | None = None
    ui_sidebar_default_collapsed: bool = False
    ui_date_format: str | None = None
    ui_timezone: str = "UTC"


class TenantPolicy(TenantScoped, Timestamped, table=True):
    """The guide defines `tenant_policies` twice; this is the union of both, keyed by tenant."""

    __tablename__ = "tenant_policies"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_policies_tenant", ondelete="CASCADE"
        ),
    )

    tenant_id: UUID = Field(primary_key=True)
    password_min_length: int = 8
    password_require_uppercase: bool = False
    password_require_numbers: bool = False
    password_require_symbols: bool = False
    session_timeout_minutes: int = 480
    max_login_attempts: int = 5
    account_lockout_duration_minutes: int = 30
    two_factor_required: bool = False
    mfa_type: str | None = None
    allow_backup_codes: bool = True
    device_tracking_enabled: bool = False
    geographic_alerts_enabled: bool = False
    suspicious_activity_monitoring: bool = False
    company_default_status: str = "active"
    company_allow_member_invites: bool = True
    company_auto_approve_members: bool = False
    company_require_email_verification: bool = True


class UserPreference(Timestamped, table=True):
    """Global: preferences belong to the person, whichever tenant they work in."""

    __tablename__ = "user_preferences"
    __table_args__ = (
        UniqueConstraint("user_id", name="uq_user_preferences_user"),
        ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_preferences_user", ondelete="CASCADE"
        ),
    )

    id: UUID = id_field()
    user_id: UUID
    theme: str = "light"
    language: str = "en"
    timezone: str = "UTC"
    email_notifications: bool = True
    push_notifications: bool = True
    weekly_reports: bool = False
    marketing_emails: bool = False


__all__ = [
    "COMPANY_STATUSES",
    "ROLES",
    "ApiKey",
    "Company",
    "SQLModel",
    "Tenant",
    "TenantConfig",
    "TenantPolicy",
    "TenantUser",
    "User",
    "UserPreference",
]
