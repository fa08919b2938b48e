"""Erasure (GDPR): what is personal about a lead, everywhere it appears.

The lead row stays (campaign history and counts keep their ids) with every personal column
overwritten and status `erased`; its list memberships go; the messages to and from it lose
their addresses, subjects and stored bodies; analytics events lose IPs and user agents. A
hashed suppression entry (reason `erased`) keeps the person from being written to again.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.leads.emails import address_hash


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _exec(self, sql: str, **params: Any) -> int:
        result = await self.session.execute(text(sql), params)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def lead_address(self, lead_id: UUID) -> tuple[str, str] | None:
        """(email, status) of the lead, soft-deleted or not."""
        row = (
            await self.session.execute(
                text("SELECT email, status FROM leads WHERE id = :id FOR UPDATE"), {"id": lead_id}
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def suppress_erased(self, tenant_id: UUID, email: str) -> None:
        await self._exec(
            "INSERT INTO suppressions (tenant_id, kind, value, reason) "
            "VALUES (:tenant_id, 'address', :value, 'erased') "
            "ON CONFLICT ON CONSTRAINT uq_suppressions_tenant_kind_value "
            "DO UPDATE SET reason = 'erased', details = '{}'::jsonb, updated = now()",
            tenant_id=tenant_id,
            value=address_hash(email),
        )

    async def scrub_messages(self, lead_id: UUID) -> int:
        """Addresses, subjects and errors off the lead's messages; their stored bodies
        (raw MIME in the content store) deleted."""
        await self._exec(
            "DELETE FROM content_objects c USING inbox_message_refs m "
            "WHERE m.lead_id = :id AND c.content_storage_key = m.content_storage_key",
            id=lead_id,
        )
        return await self._exec(
            "UPDATE inbox_message_refs SET "
            "to_email = CASE WHEN direction = 'outbound' THEN NULL ELSE to_email END, "
            "from_email = CASE WHEN direction = 'inbound' THEN NULL ELSE from_email END, "
            "subject = NULL, bounce_reason = NULL, error_message = NULL, "
            "content_storage_key = NULL, updated = now() WHERE lead_id = :id",
            id=lead_id,
        )

    async def remove_from_lists(self, lead_id: UUID) -> None:
        await self._exec(
            "WITH gone AS (DELETE FROM lead_list_members WHERE lead_id = :id "
            "RETURNING lead_list_id) UPDATE lead_lists SET row_count = row_count - 1, "
            "updated = now() WHERE id IN (SELECT lead_list_id FROM gone) AND row_count > 0",
            id=lead_id,
        )

    async def anonymise(self, lead_id: UUID) -> None:
        await self._exec(
            "UPDATE leads SET email = 'erased-' || id::text || '@erased.invalid', "
            "first_name = NULL, last_name = NULL, company = NULL, position = NULL, "
            "timezone = NULL, custom_fields = '{}'::jsonb, status = 'erased', "
            "role_account = false, disposable_domain = false, updated = now() WHERE id = :id",
            id=lead_id,
        )

    async def audit(
        self, tenant_id: UUID, lead_id: UUID, actor_type: str, actor_id: UUID | None
    ) -> None:
        await self._exec(
            "INSERT INTO audit_logs (tenant_id, actor_type, actor_id, action, entity_type, "
            "entity_id) VALUES (:tenant_id, :actor_type, :actor_id, 'lead.erased', 'lead', :lead)",
            tenant_id=tenant_id,
            actor_type=actor_type,
            actor_id=actor_id,
            lead=str(lead_id),
        )


class AnalyticsErasureRepository:
    """The analytics database: events keep their ids and times, lose IPs and agents."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def scrub(self, lead_id: UUID) -> None:
        for table in ("email_opens", "email_clicks"):
            await self.session.execute(
                text(
                    f"UPDATE {table} SET ip_address = NULL, user_agent = NULL WHERE lead_id = :id"  # noqa: S608 — the table is one of a literal tuple
                ),
                {"id": lead_id},
            )
        await self.session.execute(
            text("UPDATE email_bounces SET bounce_reason = NULL WHERE lead_id = :id"),
            {"id": lead_id},
        )
