"""Inputs, outputs and names of the warmup activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass, field

ADVANCE_WARMUP = "advance_warmup"
SET_WARMUP_STATUS = "set_warmup_status"
FINISH_WARMUP = "finish_warmup"


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
