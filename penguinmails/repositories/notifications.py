"""A tenant's in-app notifications: those for everyone (`user_id` NULL) and those for one
member, newest first; marking one read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.pagination import Cursor


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, user_id: UUID, unread: bool | None, cursor: Cursor | None, limit: int
    ) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, type, title, message, severity, is_read AS read, created "
            "FROM notifications WHERE (user_id IS NULL OR user_id = :user_id) "
            "AND channel = 'in_app' AND (expires IS NULL OR expires > now())"
        )
        params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
        if unread is not None:
            sql += " AND NOT is_read" if unread else " AND is_read"
        if cursor is not None:
            sql += " AND (created, id) < (:after_created, :after_id)"
            params["after_created"], params["after_id"] = cursor.created, cursor.id
        sql += " ORDER BY created DESC, id DESC LIMIT :limit"
        return [dict(r._mapping) for r in await self.session.execute(text(sql), params)]

    async def add(
        self,
        tenant_id: UUID,
        *,
        kind: str,
        title: str,
        message: str,
        severity: str = "warning",
    ) -> None:
        """A notification for every member of the tenant."""
        await self.session.execute(
            text(
                "INSERT INTO notifications (id, tenant_id, type, title, message, severity) "
                "VALUES (gen_random_uuid(), :tenant, :kind, :title, :message, :severity)"
            ),
            {
                "tenant": tenant_id,
                "kind": kind,
                "title": title[:200],
                "message": message[:2000],
                "severity": severity,
            },
        )

    async def mark_read(self, notification_id: UUID, user_id: UUID) -> dict[str, Any] | None:
        row = (
            await self.session.execute(
                text(
                    "UPDATE notifications SET is_read = true, read = COALESCE(read, now()) "
                    "WHERE id = :id AND (user_id IS NULL OR user_id = :user_id) "
                    "RETURNING id, type, title, message, severity, is_read AS read, created"
                ),
                {"id": notification_id, "user_id": user_id},
            )
        ).first()
        return dict(row._mapping) if row else None


__all__ = ["NotificationRepository"]
