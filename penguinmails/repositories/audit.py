"""The audit trail (`audit_logs`): what staff did, written in the session of the action; and
the staff's reading of it across tenants (system role)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.audit import AuditLog
from penguinmails.repositories.pagination import Cursor, after


@dataclass(frozen=True)
class AuditFilter:
    tenant_id: UUID | None = None
    actor_id: UUID | None = None
    actor_type: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        tenant_id: UUID,
        *,
        actor_type: str,
        actor_id: UUID | None,
        action: str,
        entity_type: str,
        entity_id: str | None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> AuditLog:
        """One entry. `details` holds ids and figures, never personal data."""
        entry = AuditLog(
            tenant_id=tenant_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            # Through JSON and back: UUIDs and times become the strings JSONB keeps.
            details=json.loads(json.dumps(details or {}, default=str)),
            request_id=request_id,
        )
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def list(self, where: AuditFilter, cursor: Cursor | None, limit: int) -> list[AuditLog]:
        """System role: entries of every tenant that match, oldest first (`limit` + 1)."""
        stmt = select(AuditLog)
        if where.tenant_id is not None:
            stmt = stmt.where(AuditLog.tenant_id == where.tenant_id)
        if where.actor_id is not None:
            stmt = stmt.where(AuditLog.actor_id == where.actor_id)
        if where.actor_type is not None:
            stmt = stmt.where(AuditLog.actor_type == where.actor_type)
        if where.action is not None:
            stmt = stmt.where(AuditLog.action == where.action)
        if where.since is not None:
            stmt = stmt.where(col(AuditLog.created) >= where.since)
        if where.until is not None:
            stmt = stmt.where(col(AuditLog.created) < where.until)
        return list((await self.session.exec(after(stmt, AuditLog, cursor, limit))).all())


__all__ = ["AuditFilter", "AuditRepository"]
