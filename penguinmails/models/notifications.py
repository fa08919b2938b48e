"""Notifications to a tenant's users, transactional e-mails (sign-up, invitations, billing)
and staff-facing system alerts.

The guide's `system_notifications` mixes platform alerts with a nullable `tenant_id`. It is
split by audience: what a tenant's users should see is a `notifications` row (tenant-owned,
under row-level security); `system_notifications` is for staff only (global, no RLS, no
privilege for the application role), its `tenant_id` saying which tenant an alert is about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from penguinmails.models.base import (
    TenantScoped,
    id_field,
    jsonb_field,
    now_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

CHANNELS = ("in_app", "email")
SEVERITIES = ("info", "warning", "error", "critical")
TRANSACTIONAL_STATUSES = ("queued", "sent", "failed")


class Notification(TenantScoped, table=True):
    """`user_id` NULL: for every member of the tenant."""

    __tablename__ = "notifications"
    __table_args__ = tenant_table_args(
        "notifications",
        tenant_fk(
            "notifications", "user_id", "tenant_users", parent_column="user_id", ondelete="CASCADE"
        ),
    )

    id: UUID = id_field()
    user_id: UUID | None = None
    type: str
    title: str
    message: str
    channel: str = "in_app"
    severity: str = "info"
    is_read: bool = False
    read: datetime | None = timestamp_field()
    expires: datetime | None = timestamp_field()
    created: datetime = now_field()


class TransactionalEmail(TenantScoped, table=True):
    """Sent by a workflow (its id in `workflow_id` replaces the guide's `job_id`)."""

    __tablename__ = "transactional_emails"
    __table_args__ = tenant_table_args(
        "transactional_emails",
        tenant_fk(
            "transactional_emails",
            "user_id",
            "tenant_users",
            parent_column="user_id",
            ondelete="SET NULL (user_id)",
        ),
        UniqueConstraint("tenant_id", "dedup_key", name="uq_transactional_emails_tenant_dedup"),
    )

    id: UUID = id_field()
    user_id: UUID | None = None
    to_email: str
    type: str
    payload: dict[str, Any] = jsonb_field()
    status: str = "queued"
    workflow_id: str | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # One message per key and tenant (migration 0015): a retry or a replay sends it once.
    dedup_key: str | None = None
    next_attempt: datetime = now_field()  # when a queued message is due (0015)
    queued: datetime = now_field()
    sent: datetime | None = timestamp_field()
    failed: datetime | None = timestamp_field()
    last_error_message: str | None = None


class SystemNotification(SQLModel, table=True):
    """Global, staff only. `tenant_id`/`user_id` say what an alert is about, not who owns it."""

    __tablename__ = "system_notifications"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_system_notifications_tenant", ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_system_notifications_user", ondelete="SET NULL"
        ),
    )

    id: UUID = id_field()
    category: str
    title: str
    message: str
    severity: str = "info"
    is_resolved: bool = False
    resolved: datetime | None = timestamp_field()
    tenant_id: UUID | None = None
    user_id: UUID | None = None
    created: datetime = now_field()


__all__ = [
    "CHANNELS",
    "SEVERITIES",
    "TRANSACTIONAL_STATUSES",
    "Notification",
    "SystemNotification",
    "TransactionalEmail",
]
