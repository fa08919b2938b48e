"""Staff alerts (`system_notifications`): global, system role only."""

from __future__ import annotations

from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.notifications import SystemNotification
from penguinmails.repositories.pagination import Cursor, after


class SystemNotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        category: str,
        title: str,
        message: str,
        severity: str = "info",
        tenant_id: UUID | None = None,
    ) -> SystemNotification:
        note = SystemNotification(
            category=category, title=title, message=message, severity=severity, tenant_id=tenant_id
        )
        self.session.add(note)
        await self.session.flush()
        return note

    async def list(
        self, unresolved: bool | None, cursor: Cursor | None, limit: int
    ) -> list[SystemNotification]:
        stmt = select(SystemNotification)
        if unresolved is not None:
            stmt = stmt.where(col(SystemNotification.is_resolved) == (not unresolved))
        return list((await self.session.exec(after(stmt, SystemNotification, cursor, limit))).all())

    async def resolve(self, notification_id: UUID) -> tuple[SystemNotification, bool] | None:
        """The notification, resolved, and whether this call resolved it (False: it already
        was); None when there is none."""
        note = (
            await self.session.exec(
                select(SystemNotification)
                .where(SystemNotification.id == notification_id)
                .with_for_update()
            )
        ).first()
        if note is None:
            return None
        if note.is_resolved:
            return note, False
        note.is_resolved = True
        note.resolved = utcnow()
        self.session.add(note)
        await self.session.flush()
        return note, True


__all__ = ["SystemNotificationRepository"]
