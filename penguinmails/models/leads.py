"""Leads, the static lists they are imported into, and the suppression list."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    generated_field,
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
    """Unique per tenant on `email_key` (`lower(email)`, computed by the database) among live
    rows (a partial index in the migration); lookups compare `email_key`, never `lower(email)`
    (row-level security keeps a non-leakproof function out of index conditions).
    Erasure overwrites the personal columns and keeps a hashed suppression entry."""

    __tablename__ = "leads"
    __table_args__ = tenant_table_args("leads")

    id: UUID = id_field()
    email: str
    email_key: str | None = generated_field("lower(email)", Text(collation="C"))
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    position: str | None = None
    timezone: str | None = None  # IANA name; sending windows use it
    # The guide's `metadata` (a reserved attribute on declarative classes): CSV columns that
    # are not standard fields, usable as template variables.
    custom_fields: dict[str, Any] = jsonb_field()
    status: str = "active"
    role_account: bool = False  # info@, sales@...: flagged at import
    disposable_domain: bool = False  # a throw-away mailbox provider: flagged at import
    imported: datetime = now_field()
    deleted: datetime | None = timestamp_field()


class LeadList(TenantScoped, Timestamped, table=True):
    __tablename__ = "lead_lists"
    __table_args__ = tenant_table_args(
        "lead_lists",
        tenant_fk("lead_lists", "company_id", "companies", ondelete="SET NULL (company_id)"),
    )

    id: UUID = id_field()
    # The workspace the list belongs to; NULL: a tenant-wide list.
    company_id: UUID | None = None
    name: str
    description: str | None = None
    source: str = "csv"
    status: str = "ready"
    # The uploaded CSV in the content store (see content_objects).
    content_storage_key: str | None = None
    original_filename: str | None = None
    row_count: int = 0
    deleted: datetime | None = timestamp_field()


class LeadListMember(SQLModel, table=True):
    """A join table keyed by its natural key; no surrogate id, and no foreign key of its own
    to `tenants`: both composite keys tie a row to its tenant (migration 0005)."""

    __tablename__ = "lead_list_members"
    __table_args__ = (
        tenant_fk("lead_list_members", "lead_list_id", "lead_lists", ondelete="CASCADE"),
        tenant_fk("lead_list_members", "lead_id", "leads", ondelete="CASCADE"),
    )

    tenant_id: UUID = Field(primary_key=True)
    lead_list_id: UUID = Field(primary_key=True)
    lead_id: UUID = Field(primary_key=True)
    # The import that last put the lead into the list (a later repeat is a duplicate); no
    # foreign key (docs/schema.md).
    import_id: UUID | None = None
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


IMPORT_STATUSES = ("running", "completed", "failed")
ON_DUPLICATE = ("skip", "update")


class LeadImport(TenantScoped, table=True):
    """One uploaded CSV and its outcome. While it runs, the workflow answers progress; the
    counts here are written from the chunk ledger when it ends."""

    __tablename__ = "lead_imports"
    __table_args__ = tenant_table_args(
        "lead_imports",
        tenant_fk("lead_imports", "lead_list_id", "lead_lists", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    lead_list_id: UUID
    status: str = "running"
    on_duplicate: str = "skip"
    original_filename: str | None = None
    content_storage_key: str
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    encoding: str = "utf-8"
    mapping: dict[str, Any] = jsonb_field()
    chunk_rows: int = 20000
    check_mx: bool = False
    rows_total: int = Field(default=0, sa_type=BigInteger)
    accepted: int = Field(default=0, sa_type=BigInteger)
    rejected: int = Field(default=0, sa_type=BigInteger)
    duplicates: int = Field(default=0, sa_type=BigInteger)
    suppressed: int = Field(default=0, sa_type=BigInteger)
    existing: int = Field(default=0, sa_type=BigInteger)
    error: str | None = None
    created_by: UUID | None = None
    created: datetime = now_field()
    updated: datetime = now_field()
    completed: datetime | None = timestamp_field()


class LeadImportChunk(TenantScoped, table=True):
    """The ledger: one row per committed chunk, in the chunk's own transaction."""

    __tablename__ = "lead_import_chunks"
    __table_args__ = tenant_table_args(
        "lead_import_chunks",
        UniqueConstraint(
            "tenant_id", "import_id", "chunk_no", name="uq_lead_import_chunks_import_chunk"
        ),
        tenant_fk("lead_import_chunks", "import_id", "lead_imports", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    import_id: UUID
    chunk_no: int
    first_line: int = Field(sa_type=BigInteger)
    end_line: int = Field(sa_type=BigInteger)
    end_offset: int = Field(sa_type=BigInteger)
    eof: bool = False
    rows_total: int = Field(default=0, sa_type=BigInteger)
    accepted: int = Field(default=0, sa_type=BigInteger)
    rejected: int = Field(default=0, sa_type=BigInteger)
    duplicates: int = Field(default=0, sa_type=BigInteger)
    suppressed: int = Field(default=0, sa_type=BigInteger)
    existing: int = Field(default=0, sa_type=BigInteger)
    created: datetime = now_field()


__all__ = [
    "IMPORT_STATUSES",
    "LEAD_LIST_SOURCES",
    "LEAD_LIST_STATUSES",
    "LEAD_STATUSES",
    "ON_DUPLICATE",
    "SUPPRESSION_KINDS",
    "SUPPRESSION_REASONS",
    "Lead",
    "LeadImport",
    "LeadImportChunk",
    "LeadList",
    "LeadListMember",
    "Suppression",
]
