from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator


class CurveIn(BaseModel):
    """The ramp: `start` sends on day 0, +`growth_pct` % a ramp day, up to `target`."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(default=20, gt=0, le=100_000)
    growth_pct: float = Field(default=20.0, gt=0, le=200)
    target: int = Field(default=500, gt=0, le=100_000)
    weekdays_only: bool = False
    step_back_days: int = Field(default=3, ge=0, le=60)

    @model_validator(mode="after")
    def _start_below_target(self) -> CurveIn:
        if self.start > self.target:
            raise ValueError("start must not exceed target")
        return self


class WarmupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_account_id: UUID | None = None
    ip_address_id: UUID | None = None
    curve: CurveIn = Field(default_factory=CurveIn)
    # Join the platform-wide warmup pool: the mailbox exchanges neutral warmup messages with
    # other pool members (opt-in; only mailboxes).
    pool: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> WarmupCreate:
        if (self.email_account_id is None) == (self.ip_address_id is None):
            raise ValueError("give exactly one of email_account_id and ip_address_id")
        if self.pool and self.email_account_id is None:
            raise ValueError("only a mailbox warmup can join the warmup pool")
        return self


class WarmupPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email_account_id: UUID | None
    ip_address_id: UUID | None = Field(
        validation_alias=AliasChoices("smtp_ip_address_id", "ip_address_id")
    )
    status: str
    curve: dict[str, Any]
    day: int
    today_cap: int
    cap_date: dt.date | None
    last_reason: str | None
    pool: bool = False
    ended: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime


class WarmupAccepted(WarmupPublic):
    workflow_id: str


class WarmupCommandResult(BaseModel):
    warmup_id: UUID
    status: str
    day: int
    today_cap: int


class IpAddressPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    vps_instance_id: UUID
    ip_address: str
    status: str
    reputation_state: str
    ptr_name: str | None
    helo_name: str | None
    pool: str  # dedicated, or shared (the platform's pool: other tenants' domains use it)
    assigned_count: int
    last_reputation_check_at: dt.datetime | None
    provider_blacklist_status: dict[str, Any]
    created: dt.datetime
    updated: dt.datetime

    @field_validator("ip_address", mode="before")
    @classmethod
    def _ip(cls, value: object) -> str:
        return str(value)  # asyncpg hands INET out as an object
