"""Leads, the static lists they are imported into, and the suppression list."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import UniqueConstraint

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    id_field,
    jsonb_field,
    now_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)

LEAD_STATUSES = ("active", "bounced", "unsubscribed", "replied", "complained", "erased")
LEAD_LIST_SOURCES = ("csv", "manual", "api")
LEAD_LIST_STATUSES = ("importing", "ready", "failed", "archived")
SUPPRESSION_KINDS = ("address", "domain")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "erased", "manual")


class Lead(TenantScoped, Timestamped, table=True):
    """Unique per tenant on `lower(email)` among live rows (a partial index in the migration).
    Erasure overwrites the personal columns and keeps a hashed suppression entry."""

    __tablename__ = "leads"
    __table_args__ = tenant_table_args("leads")

    id: UUID = id_field()
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    position: str | None = None
    timezone: str | None = None  # IANA name; sending windows use it
    # The guide's `metadata` (a reserved attribute on declarative classes): CSV columns that
    # are not standard fields, usable as template variables.
    custom_fields: dict[str, Any] = jsonb_field()
    status: str = "active"
    imported: datetime = now_field()
    deleted: datetime | None = timestamp_field()


class LeadList(TenantScoped, Timestamped, table=True):
    __tablename__ = "lead_lists"
    __table_args__ = tenant_table_args("lead_lists")

    id: UUID = id_field()
    name: str
    description: str | None = None
    source: str = "csv"
    status: str = "ready"
    # The uploaded CSV in the content store (see content_objects).
    content_storage_key: str | None = None
    original_filename: str | None = None
    row_count: int = 0
    deleted: datetime | None = timestamp_field()


class LeadListMember(TenantScoped, table=True):
    __tablename__ = "lead_list_members"
    __table_args__ = tenant_table_args(
        "lead_list_members",
        UniqueConstraint(
            "tenant_id", "lead_list_id", "lead_id", name="uq_lead_list_members_list_lead"
        ),
        tenant_fk("lead_list_members", "lead_list_id", "lead_lists", ondelete="CASCADE"),
        tenant_fk("lead_list_members", "lead_id", "leads", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    lead_list_id: UUID
    lead_id: UUID
    created: datetime = now_field()


class Suppression(TenantScoped, Timestamped, table=True):
    """`kind='address'`: `value` is the sha256 hex of the normalised (trimmed, lower-cased)
    address, so an erased person stays suppressed without keeping the address;
    `kind='domain'`: `value` is a lower-case domain."""

    __tablename__ = "suppressions"
    __table_args__ = tenant_table_args(
        "suppressions",
        UniqueConstraint("tenant_id", "kind", "value", name="uq_suppressions_tenant_kind_value"),
    )

    id: UUID = id_field()
    kind: str
    value: str
    reason: str
    details: dict[str, Any] = jsonb_field()


__all__ = [
    "LEAD_LIST_SOURCES",
    "LEAD_LIST_STATUSES",
    "LEAD_STATUSES",
    "SUPPRESSION_KINDS",
    "SUPPRESSION_REASONS",
    "Lead",
    "LeadList",
    "LeadListMember",
    "Suppression",
]
