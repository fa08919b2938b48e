"""The reply inbox: inbound replies (human replies, unsubscribe requests in words,
automatic replies) newest first with what we sent them about, a thread per lead, the read
state and the tenant's re-labelling, and the outbound row of an answer sent from the inbox.
Row-level security keeps every read to the session's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.pagination import Cursor

INBOX_KINDS = ("reply", "unsubscribe", "auto_reply")

_ITEM = """
SELECT i.id, i.created, i.email_account_id AS mailbox_id, i.campaign_id, i.lead_id,
       i.message_id, i.from_email, i.subject, i.classification, i.category,
       i.category_confidence, i.category_source, i.read_at,
       p.id AS sent_id, p.subject AS sent_subject, p.sent_at AS sent_at,
       p.message_id AS sent_message_id,
       (SELECT count(*) FROM inbox_message_refs t
         WHERE t.lead_id = i.lead_id AND t.campaign_id IS NOT DISTINCT FROM i.campaign_id
           AND NOT t.is_test AND t.status <> 'deferred') AS thread_size
FROM inbox_message_refs i
LEFT JOIN inbox_message_refs p ON p.tenant_id = i.tenant_id AND p.id = i.parent_message_id
WHERE i.direction = 'inbound' AND i.classification = ANY(:kinds)
"""


@dataclass(frozen=True)
class InboxFilters:
    campaign_id: UUID | None = None
    mailbox_id: UUID | None = None
    unread: bool | None = None
    category: str | None = None


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, filters: InboxFilters, cursor: Cursor | None, limit: int
    ) -> list[dict[str, Any]]:
        """Newest first on (created, id); one row more than `limit` when a next page exists."""
        sql = _ITEM
        params: dict[str, Any] = {"kinds": list(INBOX_KINDS), "limit": limit + 1}
        if filters.campaign_id is not None:
            sql += " AND i.campaign_id = :campaign_id"
            params["campaign_id"] = filters.campaign_id
        if filters.mailbox_id is not None:
            sql += " AND i.email_account_id = :mailbox_id"
            params["mailbox_id"] = filters.mailbox_id
        if filters.unread is not None:
            sql += " AND i.read_at IS NULL" if filters.unread else " AND i.read_at IS NOT NULL"
        if filters.category is not None:
            sql += " AND i.category = :category"
            params["category"] = filters.category
        if cursor is not None:
            sql += " AND (i.created, i.id) < (:after_created, :after_id)"
            params["after_created"], params["after_id"] = cursor.created, cursor.id
        sql += " ORDER BY i.created DESC, i.id DESC LIMIT :limit"
        rows = await self.session.execute(text(sql), params)
        return [dict(r._mapping) for r in rows]

    async def item(self, inbound_id: UUID) -> dict[str, Any] | None:
        row = (
            await self.session.execute(
                text(_ITEM + " AND i.id = :id"), {"kinds": list(INBOX_KINDS), "id": inbound_id}
            )
        ).first()
        return dict(row._mapping) if row else None

    async def thread(self, inbound_id: UUID) -> list[dict[str, Any]]:
        """Every message of the inbound message's lead in its campaign (ours and theirs),
        oldest first; the message alone when it has no lead."""
        rows = await self.session.execute(
            text(
                "WITH me AS (SELECT id, lead_id, campaign_id FROM inbox_message_refs WHERE id = :id) "
                "SELECT t.id, t.direction, t.message_id, t.from_email, t.to_email, t.subject, "
                "t.status, t.classification, t.category, t.parent_message_id, "
                "COALESCE(t.sent_at, t.created) AS at, t.content_storage_key "
                "FROM inbox_message_refs t, me "
                "WHERE (t.id = me.id OR (me.lead_id IS NOT NULL AND t.lead_id = me.lead_id "
                "AND t.campaign_id IS NOT DISTINCT FROM me.campaign_id)) "
                "AND NOT t.is_test AND t.status NOT IN ('deferred', 'reserved') "
                "ORDER BY COALESCE(t.sent_at, t.created), t.id"
            ),
            {"id": inbound_id},
        )
        return [dict(r._mapping) for r in rows]

    async def set_read(self, inbound_id: UUID, read: bool) -> None:
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET read_at = CASE WHEN :read "
                "THEN COALESCE(read_at, now()) END, updated = now() WHERE id = :id"
            ),
            {"id": inbound_id, "read": read},
        )

    async def set_category(self, inbound_id: UUID, category: str) -> None:
        """The tenant's label: confidence 1, source `tenant`."""
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET category = :category, category_confidence = 1, "
                "category_source = 'tenant', updated = now() WHERE id = :id"
            ),
            {"id": inbound_id, "category": category},
        )

    async def answer_target(self, inbound_id: UUID) -> dict[str, Any] | None:
        """What an answer from the inbox needs: the inbound message and its live mailbox."""
        row = (
            await self.session.execute(
                text(
                    "SELECT i.id, i.email_account_id, i.campaign_id, i.lead_id, i.message_id, "
                    "i.from_email, i.subject, i.in_reply_to, p.message_id AS parent_message_id, "
                    "a.email AS mailbox_email, a.from_name, a.status AS mailbox_status, "
                    "a.deleted AS mailbox_deleted "
                    "FROM inbox_message_refs i "
                    "JOIN email_accounts a ON a.tenant_id = i.tenant_id AND a.id = i.email_account_id "
                    "LEFT JOIN inbox_message_refs p ON p.tenant_id = i.tenant_id "
                    "AND p.id = i.parent_message_id "
                    "WHERE i.id = :id AND i.direction = 'inbound'"
                ),
                {"id": inbound_id},
            )
        ).first()
        return dict(row._mapping) if row else None

    async def insert_answer(self, tenant_id: UUID, **fields: Any) -> UUID:
        """The outbound row of an answer, `reserved` until its send ends."""
        row = (
            await self.session.execute(
                text(
                    "INSERT INTO inbox_message_refs (tenant_id, email_account_id, campaign_id, "
                    "lead_id, parent_message_id, direction, message_id, in_reply_to, from_email, "
                    "to_email, subject, status, content_storage_key) VALUES (:tenant_id, "
                    ":email_account_id, :campaign_id, :lead_id, :parent_message_id, 'outbound', "
                    ":message_id, :in_reply_to, :from_email, :to_email, :subject, 'reserved', "
                    ":content_storage_key) RETURNING id"
                ),
                {"tenant_id": tenant_id, **fields},
            )
        ).one()
        answer_id: UUID = row[0]
        return answer_id

    async def finish_answer(self, answer_id: UUID, sent: bool, error: str | None) -> None:
        await self.session.execute(
            text(
                "UPDATE inbox_message_refs SET status = :status, error_message = :error, "
                "sent_at = CASE WHEN :sent THEN now() END, updated = now() WHERE id = :id"
            ),
            {"id": answer_id, "status": "sent" if sent else "failed", "error": error, "sent": sent},
        )

    async def answer(self, answer_id: UUID) -> dict[str, Any] | None:
        row = (
            await self.session.execute(
                text(
                    "SELECT id, message_id, status, error_message, sent_at, parent_message_id "
                    "FROM inbox_message_refs WHERE id = :id AND direction = 'outbound'"
                ),
                {"id": answer_id},
            )
        ).first()
        return dict(row._mapping) if row else None


__all__ = ["INBOX_KINDS", "InboxFilters", "InboxRepository"]
