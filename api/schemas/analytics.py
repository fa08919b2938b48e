"""Response models of the analytics routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from api.schemas.campaigns import EngagementCounts, EngagementRates


class TimeseriesPoint(BaseModel):
    date: date  # the day the messages were sent, in the tenant's zone
    counts: EngagementCounts
    rates: EngagementRates


class Timeseries(BaseModel):
    start: date
    end: date
    campaign_id: UUID | None = None
    mailbox_id: UUID | None = None
    items: list[TimeseriesPoint]


class LeadEvent(BaseModel):
    type: Literal[
        "sent", "opened", "clicked", "replied", "bounced", "complained", "unsubscribed", "unknown"
    ]
    at: datetime
    campaign_id: UUID | None = None
    email_id: UUID | None = None  # the outbound message
    detail: str | None = None  # the clicked URL, bounce type, feedback type, channel
    bot: bool = False  # opens and clicks filtered out of the rates


class LeadEvents(BaseModel):
    lead_id: UUID
    items: list[LeadEvent]
