"""Platform-wide configuration: `system_config` (staff only: values may be sensitive) and
`feature_flags` (readable by the application role, written by staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from penguinmails.models.base import Timestamped, id_field, jsonb_field, now_field


class SystemConfig(Timestamped, table=True):
    """Keyed by its name (documented exception to UUID keys)."""

    __tablename__ = "system_config"
    __table_args__ = (
        ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_system_config_updated_by", ondelete="SET NULL"
        ),
    )

    key: str = Field(primary_key=True)
    value: Any = jsonb_field()
    description: str | None = None
    category: str | None = None
    is_sensitive: bool = False
    updated_by: UUID | None = None


class FeatureFlag(Timestamped, table=True):
    __tablename__ = "feature_flags"
    __table_args__ = (
        UniqueConstraint("key", name="uq_feature_flags_key"),
        ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name="fk_feature_flags_updated_by", ondelete="SET NULL"
        ),
    )

    id: UUID = id_field()
    key: str
    description: str | None = None
    is_enabled: bool = False
    rollout_percentage: int = 0
    updated_by: UUID | None = None


class FeatureFlagOverride(Timestamped, table=True):
    """A flag forced on or off for one tenant (beats the rollout). Global, staff only: the
    flag cache reads every override through the system role; `tenant_id` says whose."""

    __tablename__ = "feature_flag_overrides"
    __table_args__ = (
        UniqueConstraint("flag_id", "tenant_id", name="uq_feature_flag_overrides_flag_tenant"),
        ForeignKeyConstraint(
            ["flag_id"],
            ["feature_flags.id"],
            name="fk_feature_flag_overrides_flag",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_feature_flag_overrides_tenant",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name="fk_feature_flag_overrides_updated_by",
            ondelete="SET NULL",
        ),
    )

    id: UUID = id_field()
    flag_id: UUID
    tenant_id: UUID
    is_enabled: bool
    updated_by: UUID | None = None


class PlatformAuditLog(SQLModel, table=True):
    """Staff changes to what belongs to no tenant (a flag, a system_config key). Global,
    system role only; a change about one tenant goes to its `audit_logs`."""

    __tablename__ = "platform_audit_logs"

    id: UUID = id_field()
    actor_type: str  # staff, system (the operator's CLI)
    actor_id: UUID | None = None  # no foreign key: the trail outlives its actors
    action: str
    entity_type: str
    entity_id: str | None = None
    details: dict[str, Any] = jsonb_field()
    created: datetime = now_field()


__all__ = ["FeatureFlag", "FeatureFlagOverride", "PlatformAuditLog", "SystemConfig"]
