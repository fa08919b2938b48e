"""Inputs, outputs and names of the IP reputation activities: light enough for workflow
code."""

from __future__ import annotations

from dataclasses import dataclass, field

LIST_LIVE_IPS = "list_live_ips"
CHECK_IP_REPUTATION = "check_ip_reputation"


@dataclass(frozen=True)
class LiveIp:
    tenant_id: str
    ip_id: str
    ip: str


@dataclass(frozen=True)
class ListLiveIpsOutput:
    ips: list[LiveIp] = field(default_factory=list)


@dataclass(frozen=True)
class CheckIpInput:
    tenant_id: str
    ip_id: str
    ip: str
    zones: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckIpOutput:
    ip_id: str
    listed_on: list[str] = field(default_factory=list)
    failed_zones: list[str] = field(default_factory=list)  # no answer: nothing concluded
    reputation_state: str = "good"
    quarantined: bool = False  # by this check
    moved_domains: list[str] = field(default_factory=list)
