"""The staff console: tenants (search, overview, suspension, trial, credits, workflows),
system notifications and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.billing import UsageItem


class TenantMatchPublic(BaseModel):
    id: UUID
    name: str
    created: datetime
    suspended: datetime | None
    owner_emails: list[str]
    domains: list[str] = Field(description="Its domains (at most 20)")


class TenantSearchResult(BaseModel):
    items: list[TenantMatchPublic]


class SubscriptionSummary(BaseModel):
    plan_id: UUID
    plan_name: str
    status: str
    trial_ends: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    grace_ends: datetime | None


class MailboxHealthPublic(BaseModel):
    id: UUID
    email: str
    status: str
    pause_reasons: list[str]
    daily_cap: int
    sent_today: int = Field(description="Slots taken today, in the mailbox's time zone")
    sent_7d: int = Field(description="Sent in the last 7 days")
    bounced_7d: int
    complained_7d: int


class FailurePublic(BaseModel):
    kind: str = Field(
        description="`send`: a failed or unknown send; `notification`: an error or critical "
        "notice the tenant got (a refused mailbox login, a paused endpoint, ...)"
    )
    id: UUID
    at: datetime
    summary: str
    detail: str | None


class TenantOverview(BaseModel):
    id: UUID
    name: str
    created: datetime
    suspended: datetime | None
    suspended_reason: str | None
    subscription: SubscriptionSummary | None
    usage: list[UsageItem]
    usage_period_start: datetime
    usage_period_end: datetime
    credits_cents: int = Field(description="Credits granted by staff, in total")
    campaigns_by_status: dict[str, int]
    mailboxes: list[MailboxHealthPublic]
    recent_failures: list[FailurePublic]


class SuspendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why (kept on the tenant)")


class SuspensionPublic(BaseModel):
    tenant_id: UUID
    suspended: bool
    changed: bool = Field(description="False: the tenant already was so (idempotent)")
    campaigns: int = Field(description="Campaigns paused, or whose suspension pause was lifted")


class TrialExtension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, le=90)


class TrialPublic(BaseModel):
    tenant_id: UUID
    trial_ends: datetime


class CreditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int = Field(ge=1, le=100_000_000)
    reason: str = Field(min_length=1, max_length=500)


class CreditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID
    amount_cents: int
    currency: str
    reason: str
    staff_user_id: UUID | None
    created: datetime


class WorkflowPublic(BaseModel):
    workflow_id: str
    run_id: str | None
    workflow_type: str
    status: str
    started: datetime | None
    closed: datetime | None
    url: str = Field(description="This run in the Temporal UI")


class TenantWorkflows(BaseModel):
    items: list[WorkflowPublic]
    search_url: str = Field(description="Every workflow of the tenant in the Temporal UI")


class SystemNotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    category: str
    title: str
    message: str
    severity: str
    is_resolved: bool
    resolved: datetime | None
    tenant_id: UUID | None
    user_id: UUID | None
    created: datetime


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID
    actor_type: str
    actor_id: UUID | None
    action: str
    entity_type: str
    entity_id: str | None
    details: dict[str, Any]
    request_id: str | None
    created: datetime
