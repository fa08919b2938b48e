"""Audit rows for staff and operator changes to the platform's own settings: a change that
concerns one tenant goes to its `audit_logs`, one that concerns none to
`platform_audit_logs`. Written in the caller's transaction, with the change itself."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.platform import PlatformAuditLog


class PlatformAuditRepository:
    """Through the system role (`admin_session()`): it writes any tenant's trail."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        actor_type: str,
        actor_id: UUID | None,
        action: str,
        entity_type: str,
        entity_id: str | None,
        details: dict[str, Any],
        tenant_id: UUID | None = None,
    ) -> None:
        table = "audit_logs" if tenant_id is not None else "platform_audit_logs"
        columns = "tenant_id, " if tenant_id is not None else ""
        values = ":tenant, " if tenant_id is not None else ""
        await self.session.execute(
            text(
                f"INSERT INTO {table} ({columns}actor_type, actor_id, action, entity_type, "  # noqa: S608 — table and column lists are constants of this function
                f"entity_id, details) VALUES ({values}:at, :ai, :a, :et, :ei, CAST(:d AS jsonb))"
            ),
            {
                "tenant": tenant_id,
                "at": actor_type,
                "ai": actor_id,
                "a": action,
                "et": entity_type,
                "ei": entity_id,
                "d": json.dumps(details),
            },
        )

    async def recent(self, entity_type: str, limit: int = 50) -> list[PlatformAuditLog]:
        """The newest platform-wide entries about one kind of entity."""
        rows = await self.session.execute(
            text(
                "SELECT id, actor_type, actor_id, action, entity_type, entity_id, details, "
                "created FROM platform_audit_logs WHERE entity_type = :t "
                "ORDER BY created DESC LIMIT :n"
            ),
            {"t": entity_type, "n": limit},
        )
        return [PlatformAuditLog.model_validate(dict(r._mapping)) for r in rows]
