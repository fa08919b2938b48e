"""Inputs, outputs and names of the analytics activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

RECONCILE_ANALYTICS = "reconcile_analytics"
APPLY_RETENTION = "apply_analytics_retention"


@dataclass(frozen=True)
class ReconcileInput:
    tenant_id: str = ""  # empty: every live tenant (the platform's Schedule)
    # Send days recomputed, counted back from today (UTC): covers the consumer's downtime.
    days: int = 3


@dataclass(frozen=True)
class ReconcileOutput:
    tenants: int
    rows: int  # daily_analytics rows written


@dataclass(frozen=True)
class RetentionInput:
    tenant_id: str = ""  # empty: every live tenant
    raw_days: int = 90  # opens and clicks (their IP and user agent go with them)
    warmup_days: int = 180  # warmup interactions


@dataclass(frozen=True)
class RetentionOutput:
    tenants: int
    deleted: int
