"""Column conventions shared by every table (the schema guide's own guidelines).

UUID primary keys, `created`/`updated`/`deleted` as timestamptz, TEXT where in doubt,
JSONB for flexible data. Tenant-owned tables inherit `TenantScoped`, which puts `tenant_id`
first; the migration gives each of them row-level security and an index leading with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import DateTime, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_field() -> Any:
    return Field(default_factory=uuid4, primary_key=True)


def created_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def updated_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": func.now(), "nullable": False, "onupdate": utcnow},
    )


def timestamp_field(nullable: bool = True) -> Any:
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"nullable": nullable},
    )


def jsonb_field(default_factory: Any = dict) -> Any:
    return Field(
        default_factory=default_factory,
        sa_type=JSONB,  # type: ignore[call-overload]
        sa_column_kwargs={"nullable": False, "server_default": "{}" if default_factory is dict else "[]"},
    )


class Timestamped(SQLModel):
    created: datetime = created_field()
    updated: datetime = updated_field()


class TenantScoped(SQLModel):
    tenant_id: UUID = Field(nullable=False, index=False)


__all__ = [
    "TenantScoped",
    "Timestamped",
    "UUID",
    "created_field",
    "id_field",
    "jsonb_field",
    "timestamp_field",
    "updated_field",
    "utcnow",
]
