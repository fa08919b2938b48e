"""Inputs, outputs and names of the analytics activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

RECONCILE_ANALYTICS = "reconcile_analytics"


@dataclass(frozen=True)
class ReconcileInput:
    tenant_id: str = ""  # empty: every live tenant (the platform's Schedule)
    # Send days recomputed, counted back from today (UTC): covers the consumer's downtime.
    days: int = 3


@dataclass(frozen=True)
class ReconcileOutput:
    tenants: int
    rows: int  # daily_analytics rows written
