"""Column conventions shared by every table (the schema guide's own guidelines).

UUID primary keys, `created`/`updated`/`deleted` as timestamptz, TEXT where in doubt,
JSONB for flexible data. Tenant-owned tables inherit `TenantScoped`, which puts `tenant_id`
first; the migration gives each of them row-level security and an index leading with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    Column,
    Computed,
    DateTime,
    ForeignKeyConstraint,
    LargeBinary,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> Any:
    return Field(default_factory=uuid4, primary_key=True)


def created_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def updated_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False, "onupdate": utcnow},
    )


def timestamp_field(nullable: bool = True) -> Any:
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"nullable": nullable},
    )


def jsonb_field(default_factory: Any = dict) -> Any:
    return Field(
        default_factory=default_factory,
        sa_type=JSONB,
        sa_column_kwargs={
            "nullable": False,
            "server_default": "{}" if default_factory is dict else "[]",
        },
    )


class Timestamped(SQLModel):
    created: datetime = created_field()
    updated: datetime = updated_field()


class TenantScoped(SQLModel):
    tenant_id: UUID = Field(nullable=False, index=False)


# --- Helpers for the tables of the platform schema ---------------------------------------
# The migrations are the source of truth for DDL (checks, partial indexes, policies); the
# models mirror columns, keys and foreign keys so the ORM and the catalog tests agree.


def now_field() -> Any:
    """A NOT NULL timestamptz that defaults to now (an event's own time: `opened`, `started`)."""
    return created_field()


def inet_field(nullable: bool = True) -> Any:
    # `...`: required when the column is NOT NULL.
    return Field(default=None if nullable else ..., sa_type=INET, nullable=nullable)


def bytea_field() -> Any:
    return Field(sa_type=LargeBinary, nullable=False)


def generated_field(expression: str, sa_type: Any, nullable: bool = False) -> Any:
    """A `GENERATED ALWAYS AS (...) STORED` column: the database computes it, the
    application only reads it (None on an object not yet flushed)."""
    return Field(
        default=None,
        sa_column=Column(sa_type, Computed(expression, persisted=True), nullable=nullable),
    )


def tenant_table_args(table: str, *extra: Any) -> tuple[Any, ...]:
    """`UNIQUE (tenant_id, id)` (target of composite foreign keys, and the index leading with
    tenant_id) and the foreign key to `tenants`, then the table's own constraints."""
    return (
        UniqueConstraint("tenant_id", "id", name=f"uq_{table}_tenant_id_id"),
        ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE"
        ),
        *extra,
    )


def tenant_fk(
    table: str,
    column: str,
    parent: str,
    *,
    parent_column: str = "id",
    ondelete: str | None = None,
    name: str | None = None,
) -> ForeignKeyConstraint:
    """A composite `(tenant_id, column) -> parent (tenant_id, parent_column)`: a foreign-key
    check ignores row-level security, so a plain one would let a tenant point at another's row."""
    return ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.{parent_column}"],
        name=name or f"fk_{table}_{column.removesuffix('_id')}",
        ondelete=ondelete,
    )


__all__ = [
    "UUID",
    "TenantScoped",
    "Timestamped",
    "bytea_field",
    "created_field",
    "generated_field",
    "id_field",
    "inet_field",
    "jsonb_field",
    "now_field",
    "tenant_fk",
    "tenant_table_args",
    "timestamp_field",
    "updated_field",
    "utcnow",
]
