"""Inputs, outputs and names of the warmup activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field

ADVANCE_WARMUP = "advance_warmup"
SET_WARMUP_STATUS = "set_warmup_status"
FINISH_WARMUP = "finish_warmup"
EXCHANGE_WARMUP = "exchange_warmup"
# The mailbox warmup's exchange rounds, hours of the UTC day (workflows/mailbox_warmup.py).
EXCHANGE_ROUND_HOURS = (6, 12, 18)


@dataclass(frozen=True)
class AdvanceWarmupInput:
    tenant_id: str
    warmup_id: str
    at: str  # the workflow's clock, ISO 8601 UTC: the ramp day's date
    signals: list[str] = field(default_factory=list)  # since the last advance


@dataclass(frozen=True)
class WarmupProgress:
    status: str  # active, paused, held, completed, stopped
    day: int
    cap: int
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "stopped")


@dataclass(frozen=True)
class SetWarmupStatusInput:
    tenant_id: str
    warmup_id: str
    status: str  # paused, active, or stopped (which ends it)
    reason: str | None = None


@dataclass(frozen=True)
class ExchangeInput:
    tenant_id: str
    warmup_id: str
    # Warmup messages to send this round; None: the round's share of today's cap. The inbox
    # is tended whatever it is.
    sends: int | None = None


@dataclass(frozen=True)
class ExchangeOutput:
    skipped: str | None = None  # why nothing was done (not in the pool, not active, ...)
    sent: int = 0
    received: int = 0  # partners' messages found and recorded this round
    rescued: int = 0  # of those, found in the spam folder
    replied: int = 0
    partners: int = 0  # pool members offered to send to
    # skipped == OTHER_HOST: the mailbox's domain sends from an IP of this server (None: no
    # platform IP, the shared queue), whose own worker must run the round.
    host_vps_id: str | None = None


OTHER_HOST = "other_host"
