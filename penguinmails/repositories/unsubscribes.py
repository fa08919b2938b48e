"""What the public unsubscribe endpoint reads and writes, in the tenant's session: the
recipient of an outbound message (through the outbox), the lead's status, the audit row.
The suppression entry itself goes through `SuppressionRepository`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# A lead in one of these states keeps it: erasure and a complaint say more than an unsubscribe.
KEEP_STATUSES = ("erased", "complained")


@dataclass(frozen=True)
class OutboundRecipient:
    """The outbox row a token names, and the address it went to (None once erased)."""

    message_ref_id: UUID
    campaign_id: UUID | None
    lead_id: UUID | None
    lead_status: str | None
    email: str | None


class UnsubscribeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def recipient(self, message_id: str) -> OutboundRecipient | None:
        """The outbound message with this Message-ID, when its tenant is live (row-level
        security limits the lookup to the session's tenant)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT m.id, m.campaign_id, m.lead_id, l.status, "
                    "COALESCE(l.email, m.to_email) FROM inbox_message_refs m "
                    "JOIN tenants t ON t.id = m.tenant_id AND t.deleted IS NULL "
                    "LEFT JOIN leads l ON l.tenant_id = m.tenant_id AND l.id = m.lead_id "
                    "WHERE m.message_id = :message_id AND m.direction = 'outbound' LIMIT 1"
                ),
                {"message_id": message_id},
            )
        ).first()
        if row is None:
            return None
        email = None if row[3] == "erased" else row[4]
        return OutboundRecipient(row[0], row[1], row[2], row[3], email)

    async def mark_lead_unsubscribed(self, lead_id: UUID) -> bool:
        """True when the status changed."""
        result = await self.session.execute(
            text(
                "UPDATE leads SET status = 'unsubscribed', updated = now() "
                "WHERE id = :id AND status <> 'unsubscribed' AND status <> ALL(:keep)"
            ),
            {"id": lead_id, "keep": list(KEEP_STATUSES)},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def audit(
        self,
        tenant_id: UUID,
        entity_type: str,
        entity_id: str,
        details: dict[str, Any],
        request_id: str | None = None,
    ) -> None:
        """The actor is the `recipient`. No address, IP or user agent: the trail holds no
        personal data."""
        await self.session.execute(
            text(
                "INSERT INTO audit_logs (tenant_id, actor_type, action, entity_type, entity_id, "
                "details, request_id) VALUES (:tenant_id, 'recipient', 'lead.unsubscribed', "
                ":entity_type, :entity_id, CAST(:details AS jsonb), :request_id)"
            ),
            {
                "tenant_id": tenant_id,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "details": json.dumps(details),
                "request_id": request_id,
            },
        )


__all__ = ["KEEP_STATUSES", "OutboundRecipient", "UnsubscribeRepository"]
