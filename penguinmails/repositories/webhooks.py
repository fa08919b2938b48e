"""Outbound webhooks: endpoints, the deliveries waiting for each, and the attempt log.

Publishing an event inserts one delivery per active endpoint subscribed to its type, keyed
by (endpoint, event id): an event published twice (a replayed stream entry) is delivered
once. An endpoint's workflow reads its due deliveries here, with `SKIP LOCKED` so two runs
(a retry overlapping a slow attempt) never post the same delivery at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from penguinmails.repositories.pagination import Cursor, after

_ENQUEUE = text(
    """
    INSERT INTO webhook_deliveries
      (tenant_id, endpoint_id, event_id, event_type, occurred_at, payload)
    SELECT e.tenant_id, e.id, :event_id, :event_type, :occurred_at, CAST(:payload AS jsonb)
    FROM webhook_endpoints e
    WHERE e.status = 'active' AND e.deleted IS NULL
      AND (CAST(:endpoint_id AS uuid) IS NULL AND :event_type = ANY(e.event_types)
           OR e.id = CAST(:endpoint_id AS uuid))
    ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING
    RETURNING endpoint_id
    """
)


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- endpoints ------------------------------------------------------------------------

    async def create(self, **fields: Any) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(**fields)
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def get(self, endpoint_id: UUID, for_update: bool = False) -> WebhookEndpoint | None:
        stmt = select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            col(WebhookEndpoint.deleted).is_(None),
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def list(self, cursor: Cursor | None, limit: int) -> builtins.list[WebhookEndpoint]:
        stmt = select(WebhookEndpoint).where(col(WebhookEndpoint.deleted).is_(None))
        return list((await self.session.exec(after(stmt, WebhookEndpoint, cursor, limit))).all())

    async def update(self, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
        for name, value in fields.items():
            setattr(endpoint, name, value)
        endpoint.updated = utcnow()
        self.session.add(endpoint)
        await self.session.flush()
        return endpoint

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self._fail_pending(endpoint.id, "the endpoint was deleted")
        await self.update(endpoint, deleted=utcnow())

    async def disable(self, endpoint: WebhookEndpoint, reason: str) -> None:
        """Disabled with its pending deliveries failed, and the tenant told."""
        await self._fail_pending(endpoint.id, reason)
        await self.update(endpoint, status="disabled", disabled_reason=reason)
        await self.session.execute(
            text(
                "INSERT INTO notifications (tenant_id, type, title, message, severity) "
                "VALUES (:tenant_id, 'webhook_endpoint_disabled', :title, :message, 'warning')"
            ),
            {
                "tenant_id": endpoint.tenant_id,
                "title": "A webhook endpoint was disabled",
                "message": f"{endpoint.url}: {reason}",
            },
        )

    async def _fail_pending(self, endpoint_id: UUID, reason: str) -> None:
        await self.session.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'failed', last_error = :reason "
                "WHERE endpoint_id = :endpoint_id AND status = 'pending'"
            ),
            {"endpoint_id": endpoint_id, "reason": reason},
        )

    # --- deliveries -----------------------------------------------------------------------

    async def subscribed_types(self) -> set[str]:
        """The event types some active endpoint of the tenant wants (one statement: a
        tenant without endpoints costs a publisher nothing more)."""
        result = await self.session.execute(
            text(
                "SELECT DISTINCT unnest(event_types) FROM webhook_endpoints "
                "WHERE status = 'active' AND deleted IS NULL"
            )
        )
        return {row[0] for row in result.all()}

    async def enqueue(
        self,
        event_id: str,
        event_type: str,
        occurred_at: datetime,
        payload: str,
        endpoint_id: UUID | None = None,
    ) -> builtins.list[UUID]:
        """One delivery per active endpoint of the tenant subscribed to `event_type` (or to
        `endpoint_id` alone, whatever it subscribes to: a test event); the endpoints that got
        a new one. `payload`: the event's data as JSON text."""
        result = await self.session.execute(
            _ENQUEUE,
            {
                "event_id": event_id,
                "event_type": event_type,
                "occurred_at": occurred_at,
                "payload": payload,
                "endpoint_id": endpoint_id,
            },
        )
        return [row[0] for row in result.all()]

    async def endpoints_pending(self, event_ids: Sequence[str]) -> builtins.list[UUID]:
        """The endpoints with a pending delivery of any of these events (to wake them)."""
        result = await self.session.execute(
            text(
                "SELECT DISTINCT endpoint_id FROM webhook_deliveries "
                "WHERE event_id = ANY(:ids) AND status = 'pending'"
            ),
            {"ids": list(event_ids)},
        )
        return [row[0] for row in result.all()]

    async def due(
        self, endpoint_id: UUID, now: datetime, limit: int
    ) -> builtins.list[WebhookDelivery]:
        stmt = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.exec(stmt)).all())

    async def lease(
        self, deliveries: Sequence[WebhookDelivery], now: datetime, seconds: int
    ) -> None:
        """Claimed: due again only after `seconds` (a worker that dies mid-POST leaves them
        to the next round)."""
        for delivery in deliveries:
            delivery.next_attempt_at = now + timedelta(seconds=seconds)
            self.session.add(delivery)
        await self.session.flush()

    async def delivery(self, delivery_id: UUID) -> WebhookDelivery | None:
        stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        return (await self.session.exec(stmt)).first()

    async def next_due(self, endpoint_id: UUID) -> datetime | None:
        stmt = select(WebhookDelivery.next_attempt_at).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending"
        )
        stmt = stmt.order_by(col(WebhookDelivery.next_attempt_at)).limit(1)
        return (await self.session.exec(stmt)).first()

    async def record_attempt(
        self,
        delivery: WebhookDelivery,
        *,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        outcome: str,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """`outcome`: delivered, pending (retry at `next_attempt_at`) or failed."""
        now = utcnow()
        delivery.attempts += 1
        delivery.status = outcome
        delivery.last_status_code = status_code
        delivery.last_error = error
        if outcome == "delivered":
            delivery.delivered_at = now
        if next_attempt_at is not None:
            delivery.next_attempt_at = next_attempt_at
        self.session.add(delivery)
        self.session.add(
            WebhookAttempt(
                tenant_id=delivery.tenant_id,
                delivery_id=delivery.id,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        # The endpoint's health: a success clears the failing streak, a failure starts one.
        if outcome == "delivered":
            sql = (
                "UPDATE webhook_endpoints SET failing_since = NULL, last_success_at = :now "
                "WHERE id = :id"
            )
        else:
            sql = (
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, :now) "
                "WHERE id = :id"
            )
        await self.session.execute(text(sql), {"now": now, "id": delivery.endpoint_id})
        await self.session.flush()

    async def deliveries(
        self, endpoint_id: UUID, cursor: Cursor | None, limit: int
    ) -> builtins.list[WebhookDelivery]:
        stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        return list((await self.session.exec(after(stmt, WebhookDelivery, cursor, limit))).all())

    async def attempts_of(
        self, delivery_ids: Sequence[UUID]
    ) -> dict[UUID, builtins.list[WebhookAttempt]]:
        if not delivery_ids:
            return {}
        stmt = (
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
            .order_by(col(WebhookAttempt.attempted_at))
        )
        grouped: dict[UUID, builtins.list[WebhookAttempt]] = {}
        for attempt in (await self.session.exec(stmt)).all():
            grouped.setdefault(attempt.delivery_id, []).append(attempt)
        return grouped
