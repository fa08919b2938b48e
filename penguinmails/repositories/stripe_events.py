"""Received Stripe events (global, system role): stored once by id before anything else, and
marked when handed to the tenant's workflow and when applied."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    tenant_id: UUID | None
    stripe_created: int
    payload: dict[str, Any]
    handed_off: bool
    inserted: bool = False  # stored by this call (not a repeat delivery)


class StripeEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(
        self, event_id: str, kind: str, tenant_id: UUID | None, created: int, payload: str
    ) -> StoredEvent:
        """Insert the event unless its id is stored; either way, the stored row. An event
        for no tenant (products, plans) has nothing to hand over: stored as handed off."""
        inserted = await self.session.execute(
            text(
                "INSERT INTO stripe_events (id, type, tenant_id, stripe_created, payload) "
                "VALUES (:id, :type, :tenant, :created, CAST(:payload AS jsonb)) "
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            {
                "id": event_id,
                "type": kind,
                "tenant": tenant_id,
                "created": created,
                "payload": payload,
            },
        )
        fresh = inserted.first() is not None
        if fresh and tenant_id is None:
            await self.mark_handed_off(event_id)
        stored = await self.get(event_id)
        assert stored is not None
        return replace(stored, inserted=fresh)

    async def get(self, event_id: str) -> StoredEvent | None:
        row = (
            await self.session.execute(
                text(
                    "SELECT id, type, tenant_id, stripe_created, payload, "
                    "handed_off IS NOT NULL AS handed_off FROM stripe_events WHERE id = :id"
                ),
                {"id": event_id},
            )
        ).first()
        if row is None:
            return None
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
        return StoredEvent(
            row.id, row.type, row.tenant_id, int(row.stripe_created), payload, row.handed_off
        )

    async def mark_handed_off(self, event_id: str) -> None:
        await self.session.execute(
            text(
                "UPDATE stripe_events SET handed_off = now(), updated = now() "
                "WHERE id = :id AND handed_off IS NULL"
            ),
            {"id": event_id},
        )

    async def mark_applied(self, event_id: str) -> None:
        await self.session.execute(
            text(
                "UPDATE stripe_events SET applied = coalesce(applied, now()), updated = now() "
                "WHERE id = :id"
            ),
            {"id": event_id},
        )

    async def unhanded(self, limit: int = 100) -> list[StoredEvent]:
        """Stored events of a tenant never handed over (a hand-off that failed after the
        store), oldest first."""
        rows = await self.session.execute(
            text(
                "SELECT id FROM stripe_events WHERE handed_off IS NULL "
                "AND tenant_id IS NOT NULL ORDER BY created LIMIT :limit"
            ),
            {"limit": limit},
        )
        out = []
        for row in rows.all():
            stored = await self.get(row.id)
            if stored is not None:
                out.append(stored)
        return out
