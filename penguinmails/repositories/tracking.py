"""What a tracking hit needs from the outbox: the message a verified token names.

Looked up in the tenant's session (the tenant comes from the verified token), once per
message per API process (the tracking handler caches the answer), so the hot path of a
pixel costs no database round trip after the first hit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class TrackedMessage:
    email_id: UUID  # inbox_message_refs.id
    campaign_id: UUID | None
    step_id: UUID | None
    variant_id: UUID | None
    mailbox_id: UUID
    lead_id: UUID | None
    sent_at: dt.datetime | None
    is_test: bool


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def message(self, message_id: str) -> TrackedMessage | None:
        """The outbound message with this Message-ID, when its tenant is live."""
        row = (
            await self.session.execute(
                text(
                    "SELECT m.id, m.campaign_id, m.step_id, m.variant_id, m.email_account_id, "
                    "m.lead_id, m.sent_at, m.is_test FROM inbox_message_refs m "
                    "JOIN tenants t ON t.id = m.tenant_id AND t.deleted IS NULL "
                    "WHERE m.message_id = :message_id AND m.direction = 'outbound' LIMIT 1"
                ),
                {"message_id": message_id},
            )
        ).first()
        if row is None:
            return None
        return TrackedMessage(*row)


__all__ = ["TrackedMessage", "TrackingRepository"]
