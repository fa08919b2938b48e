"""Platform-wide configuration: `system_config` (staff only: values may be sensitive) and
`feature_flags` (readable by the application role, written by staff)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field

from penguinmails.models.base import Timestamped, id_field, jsonb_field


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


__all__ = ["FeatureFlag", "SystemConfig"]
