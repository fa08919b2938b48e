"""Inputs, outputs and names of the VPS lifecycle activities: light enough for workflow code.

Times travel as ISO 8601 strings in UTC; `at` is the workflow's clock (`workflow.now()`),
so a billing period follows the workflow's time, replays included."""

from __future__ import annotations

from dataclasses import dataclass, field

PROVISION_VPS = "provision_vps"
CHECK_VPS = "check_vps"
REGISTER_VPS_IPS = "register_vps_ips"
START_BILLING_PERIOD = "start_billing_period"
SCHEDULE_VPS_DECOMMISSION = "schedule_vps_decommission"
MOVE_VPS_DOMAINS = "move_vps_domains"
RELEASE_VPS = "release_vps"

# ApplicationError types the activities raise non-retryable.
PROVIDER_REJECTED = "ProviderRejected"
VPS_GONE = "VpsGone"


@dataclass(frozen=True)
class VpsRef:
    tenant_id: str
    vps_id: str


@dataclass(frozen=True)
class ProvisionVpsOutput:
    instance_id: str


@dataclass(frozen=True)
class CheckVpsOutput:
    status: str  # pending, active, gone


@dataclass(frozen=True)
class RegisterVpsIpsOutput:
    ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BillingPeriodInput:
    tenant_id: str
    vps_id: str
    at: str


@dataclass(frozen=True)
class BillingPeriodOutput:
    start: str
    end: str


@dataclass(frozen=True)
class ScheduleDecommissionInput:
    tenant_id: str
    vps_id: str
    at: str  # the end of the paid period


@dataclass(frozen=True)
class MovedDomain:
    domain: str
    from_ip: str
    to_ip: str | None


@dataclass(frozen=True)
class MoveVpsDomainsOutput:
    moved: list[MovedDomain] = field(default_factory=list)


@dataclass(frozen=True)
class ReleaseVpsInput:
    tenant_id: str
    vps_id: str
    failed: bool = False  # a compensation: cancel now, status `failed`
    error: str | None = None
