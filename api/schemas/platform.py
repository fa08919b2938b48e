"""Staff: feature flags and system configuration."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

FLAG_NAME = r"^[a-z0-9][a-z0-9_.-]{0,99}$"


class FlagOverridePublic(BaseModel):
    tenant_id: UUID
    enabled: bool


class FlagPublic(BaseModel):
    name: str
    enabled: bool
    percent: int
    description: str | None
    overrides: list[FlagOverridePublic]


class FlagPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    percent: int = Field(ge=0, le=100, description="Share of tenants it is on for, when enabled")
    description: str | None = Field(default=None, max_length=500)


class FlagOverridePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class ConfigItem(BaseModel):
    key: str
    value: Any
    default: bool = Field(description="true: the key is not set and has its default")
    description: str
    category: str


class ConfigPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = Field(description="Validated by the key's own schema")


class IpPoolPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: Literal["shared", "dedicated"]


class IpPoolPublic(BaseModel):
    ip_address_id: UUID
    ip_address: str
    tenant_id: UUID
    status: str
    pool: str
