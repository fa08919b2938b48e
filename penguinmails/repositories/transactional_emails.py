"""`transactional_emails`, the outbox of the platform's own e-mail. `queue` runs in the
caller's transaction (tenant or system session), beside the fact the message tells;
`claim_due` and the marks run through the system role, across tenants, for the sender."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.transactional import KINDS


@dataclass(frozen=True)
class DueEmail:
    id: UUID
    tenant_id: UUID
    to_email: str
    type: str
    payload: dict[str, Any]
    attempts: int  # including the one this claim starts


class TransactionalEmailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def queue(
        self,
        tenant_id: UUID,
        kind: str,
        dedup_key: str,
        payload: dict[str, Any],
        to_email: str | None = None,
        user_id: UUID | None = None,
    ) -> bool:
        """Queue one message (to `to_email`, else the tenant's first owner). False when one
        with this key was queued before, or the tenant has nobody to write to."""
        if kind not in KINDS:
            raise ValueError(f"unknown transactional e-mail kind {kind!r}")
        row = await self.session.execute(
            text(
                "INSERT INTO transactional_emails (tenant_id, user_id, to_email, type, payload, "
                "dedup_key) SELECT :t, :u, r.email, :k, CAST(:p AS jsonb), :d FROM ("
                "  SELECT CAST(:to AS text) AS email WHERE CAST(:to AS text) IS NOT NULL "
                "  UNION ALL (SELECT coalesce(tu.email, u.email) FROM tenant_users tu "
                "    JOIN users u ON u.id = tu.user_id WHERE tu.tenant_id = :t "
                "    AND tu.deleted IS NULL AND tu.roles @> '[\"owner\"]'::jsonb "
                "    AND CAST(:to AS text) IS NULL ORDER BY tu.created LIMIT 1)"
                ") r WHERE r.email IS NOT NULL "
                "ON CONFLICT (tenant_id, dedup_key) DO NOTHING RETURNING id"
            ),
            {
                "t": tenant_id,
                "u": user_id,
                "to": to_email,
                "k": kind,
                "p": json.dumps(payload, default=str),
                "d": dedup_key,
            },
        )
        return row.first() is not None

    async def queue_campaign_finished(self, tenant_id: UUID, campaign_id: UUID) -> bool:
        """The owner is told a campaign finished (once per campaign)."""
        name = (
            await self.session.execute(
                text("SELECT name FROM campaigns WHERE id = :c"), {"c": campaign_id}
            )
        ).scalar_one_or_none()
        if name is None:
            return False
        return await self.queue(
            tenant_id,
            "campaign_finished",
            f"campaign:{campaign_id}:finished",
            {"campaign_name": name},
        )

    async def claim_due(self, limit: int, lease: timedelta) -> list[DueEmail]:
        """Take up to `limit` queued messages that are due, oldest first: each attempt is
        counted and the next one moved `lease` ahead, committed before any SMTP exchange,
        so a sender that dies mid-way leaves the message to be tried again after the lease
        and two senders never take the same one."""
        rows = await self.session.execute(
            text(
                "UPDATE transactional_emails e SET attempts = e.attempts + 1, "
                "next_attempt = now() + :lease FROM ("
                "  SELECT id FROM transactional_emails WHERE status = 'queued' "
                "  AND next_attempt <= now() ORDER BY next_attempt LIMIT :n "
                "  FOR UPDATE SKIP LOCKED) due WHERE e.id = due.id "
                "RETURNING e.id, e.tenant_id, e.to_email, e.type, e.payload, e.attempts"
            ),
            {"n": limit, "lease": lease},
        )
        return [DueEmail(**dict(r._mapping)) for r in rows]

    async def mark_sent(self, email_id: UUID) -> None:
        await self.session.execute(
            text(
                "UPDATE transactional_emails SET status = 'sent', sent = now(), "
                "last_error_message = NULL WHERE id = :id"
            ),
            {"id": email_id},
        )

    async def mark_retry(self, email_id: UUID, error: str, after: timedelta) -> None:
        await self.session.execute(
            text(
                "UPDATE transactional_emails SET last_error_message = :e, "
                "next_attempt = now() + :after WHERE id = :id AND status = 'queued'"
            ),
            {"id": email_id, "e": error[:500], "after": after},
        )

    async def mark_failed(self, email_id: UUID, error: str) -> None:
        await self.session.execute(
            text(
                "UPDATE transactional_emails SET status = 'failed', failed = now(), "
                "last_error_message = :e WHERE id = :id AND status = 'queued'"
            ),
            {"id": email_id, "e": error[:500]},
        )
