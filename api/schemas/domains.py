from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from penguinmails.mail.records import InvalidDomain, normalize_domain


class DomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(min_length=1, max_length=253)
    company_id: UUID | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        try:
            return normalize_domain(value)
        except InvalidDomain as exc:
            raise ValueError(str(exc)) from None


class DomainIpAssign(BaseModel):
    """Which IP the domain sends from: one of the platform's shared pool (the platform picks
    the least used), or one of the tenant's own dedicated IPs (`ip_address_id`)."""

    model_config = ConfigDict(extra="forbid")

    pool: Literal["shared", "dedicated"] = "shared"
    ip_address_id: UUID | None = None

    @model_validator(mode="after")
    def _one_ip(self) -> Self:
        if (self.pool == "dedicated") != (self.ip_address_id is not None):
            raise ValueError("ip_address_id is required with pool dedicated, and only then")
        return self


class DomainIpPublic(BaseModel):
    """The IP the domain sends from now. Of a shared IP the tenant learns the address only,
    never which other domains share it."""

    model_config = ConfigDict(from_attributes=True)

    domain_id: UUID
    pool: str
    ip_address: str
    status: str


class DomainPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    company_id: UUID
    domain: str
    verification_status: str
    dkim_selector: str | None
    is_primary: bool
    verified_at: datetime | None
    last_checked_at: datetime | None
    created: datetime
    updated: datetime


class DnsRecordPublic(BaseModel):
    purpose: str
    type: str
    name: str
    value: str
    priority: int | None = None
    status: str = "pending"  # pending (never checked), pass, fail
    found: list[str] = Field(default_factory=list)
    detail: str | None = None
    checked_at: datetime | None = None


class DnsRecordsPublic(BaseModel):
    domain_id: UUID
    domain: str
    verification_status: str
    last_checked_at: datetime | None
    records: list[DnsRecordPublic]

    @classmethod
    def of(cls, domain: Any) -> DnsRecordsPublic:
        return cls(
            domain_id=domain.id,
            domain=domain.domain,
            verification_status=domain.verification_status,
            last_checked_at=domain.last_checked_at,
            records=[
                DnsRecordPublic.model_validate(r)
                for r in (domain.dns_records or {}).get("records", [])
            ],
        )


class VerifyAccepted(BaseModel):
    domain_id: UUID
    verification_status: str
    workflow_id: str
