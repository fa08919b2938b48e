"""Inputs, outputs and names of the domain activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field

CHECK_DOMAIN_DNS = "check_domain_dns"


@dataclass(frozen=True)
class CheckDomainDnsInput:
    tenant_id: str
    domain_id: str
    # The last check before the deadline: a domain that does not pass becomes `failed`.
    final: bool = False


@dataclass(frozen=True)
class RecordResult:
    purpose: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckDomainDnsOutput:
    domain_id: str
    status: str  # verifying, verified, failed; `gone` when the domain was deleted
    records: list[RecordResult] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in ("verified", "failed", "gone")
