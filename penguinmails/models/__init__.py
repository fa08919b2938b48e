"""Every table model, imported once so both metadatas are complete.

`SQLModel.metadata` is the OLTP database; `AnalyticsModel.metadata` the analytics one.
"""

from penguinmails.models import (
    analytics,
    audit,
    billing,
    campaigns,
    content,
    infra,
    leads,
    notifications,
    platform,
    staff,
    tenancy,
    webhooks,
)

__all__ = [
    "analytics",
    "audit",
    "billing",
    "campaigns",
    "content",
    "infra",
    "leads",
    "notifications",
    "platform",
    "staff",
    "tenancy",
    "webhooks",
]
