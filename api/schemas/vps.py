from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class VpsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["local", "hostwinds"] = "local"
    region: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class VpsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    provider: str
    provider_instance_id: str | None
    ip_address: str | None
    region: str | None
    status: str
    monthly_cost: Decimal | None
    billing_day: int | None
    current_billing_period_start: datetime | None
    current_billing_period_end: datetime | None
    decommission_scheduled_for: datetime | None
    last_error: str | None
    created: datetime
    updated: datetime

    @field_validator("ip_address", mode="before")
    @classmethod
    def _ip(cls, value: object) -> str | None:
        return None if value is None else str(value)  # asyncpg hands INET out as an object


class VpsAccepted(VpsPublic):
    workflow_id: str


class DecommissionAccepted(BaseModel):
    vps_id: UUID
    status: str
    decommission_scheduled_for: datetime | None
    already_scheduled: bool
    workflow_id: str


class MonthlyCost(BaseModel):
    monthly_cost: Decimal
    servers: int
    currency: str = "USD"
