"""Analytics: the per-day series of a tenant's sends and engagement, and a lead's timeline
(its messages from the OLTP database, its engagement from the analytics database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.csv_export import csv_response
from api.deps import Principal, PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.schemas.analytics import LeadEvent, LeadEvents, Timeseries, TimeseriesPoint
from api.schemas.campaigns import EngagementCounts, EngagementRates
from api.services import Services
from api.stats import rates_of
from penguinmails.repositories.analytics import AnalyticsRepository, lead_timeline
from penguinmails.repositories.engagement import EngagementRepository
from penguinmails.repositories.leads import LeadRepository

router = APIRouter(tags=["analytics"])
MAX_DAYS = 366
TIMELINE_LIMIT = 500


Start = Annotated[date | None, Query(description="first send day (default: 30 days ago)")]
End = Annotated[date | None, Query(description="last send day (default: today, UTC)")]


@router.get("/v1/analytics/timeseries", response_model=Timeseries)
async def timeseries(
    principal: PrincipalDep,
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    campaign_id: UUID | None = None,
    mailbox_id: UUID | None = None,
) -> Timeseries:
    """Per send day (in the tenant's zone): messages sent and their engagement, optionally
    one campaign's or one mailbox's; at most 366 days. Days without sends are left out."""
    return await _timeseries(principal, services, start, end, campaign_id, mailbox_id)


@router.get("/v1/analytics/timeseries.csv", response_class=StreamingResponse)
async def timeseries_csv(
    principal: PrincipalDep,
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    campaign_id: UUID | None = None,
    mailbox_id: UUID | None = None,
) -> StreamingResponse:
    """The same series as CSV: one row per day, `date` then the counts and the rates (the
    JSON's `counts` and `rates` fields, in that order)."""
    series = await _timeseries(principal, services, start, end, campaign_id, mailbox_id)
    counts, rates = list(EngagementCounts.model_fields), list(EngagementRates.model_fields)
    rows = (
        [p.date.isoformat(), *p.counts.model_dump().values(), *p.rates.model_dump().values()]
        for p in series.items
    )
    return csv_response(
        ["date", *counts, *rates], rows, f"timeseries-{series.start}-{series.end}.csv"
    )


async def _timeseries(
    principal: Principal,
    services: Services,
    start: date | None,
    end: date | None,
    campaign_id: UUID | None,
    mailbox_id: UUID | None,
) -> Timeseries:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise ApiError(422, "start is after end", details={"field": "start"})
    if (end - start).days >= MAX_DAYS:
        raise ApiError(422, f"at most {MAX_DAYS} days at once", details={"field": "end"})
    async with services.db.analytics_session(principal.tenant_id) as session:
        rows = await AnalyticsRepository(session).timeseries(start, end, campaign_id, mailbox_id)
    return Timeseries(
        start=start,
        end=end,
        campaign_id=campaign_id,
        mailbox_id=mailbox_id,
        items=[
            TimeseriesPoint(date=day, counts=EngagementCounts(**c.values), rates=rates_of(c))
            for day, c in rows
        ],
    )


@router.get("/v1/leads/{lead_id}/events", response_model=LeadEvents)
async def lead_events(
    lead_id: UUID, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> LeadEvents:
    """The lead's timeline, newest first: each message sent (or whose outcome is unknown)
    and every open, click, reply, bounce, complaint and unsubscribe."""
    if await LeadRepository(session).get(lead_id) is None:
        raise not_found("lead")
    items: list[LeadEvent] = []
    messages = await EngagementRepository(session).lead_messages(lead_id, TIMELINE_LIMIT)
    for email_id, campaign_id, status, sent_at, created in messages:
        kind: Any
        if status == "unknown":
            kind, at = "unknown", created
        elif sent_at is not None:
            kind, at = "sent", sent_at
        else:
            continue
        items.append(LeadEvent(type=kind, at=at, campaign_id=campaign_id, email_id=email_id))
    async with services.db.analytics_session(principal.tenant_id) as analytics:
        for event in await lead_timeline(analytics, lead_id, TIMELINE_LIMIT):
            items.append(
                LeadEvent(
                    type=event.type,  # type: ignore[arg-type]
                    at=event.at,
                    campaign_id=event.campaign_id,
                    email_id=event.email_id,
                    detail=event.detail,
                    bot=event.bot,
                )
            )
    items.sort(key=lambda e: e.at, reverse=True)
    return LeadEvents(lead_id=lead_id, items=items[:TIMELINE_LIMIT])
