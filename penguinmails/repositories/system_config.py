"""`system_config` (global, staff only: read and written through the system role)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


class SystemConfigRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def values(self) -> dict[str, Any]:
        rows = await self.session.execute(text("SELECT key, value FROM system_config"))
        return {r.key: r.value for r in rows}

    async def get(self, key: str) -> Any | None:
        row = await self.session.execute(
            text("SELECT value FROM system_config WHERE key = :k"), {"k": key}
        )
        found = row.first()
        return None if found is None else found.value

    async def put(
        self,
        key: str,
        value: Any,
        description: str,
        category: str,
        updated_by: UUID | None,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO system_config (key, value, description, category, updated_by) "
                "VALUES (:k, CAST(:v AS jsonb), :d, :c, :u) ON CONFLICT (key) DO UPDATE SET "
                "value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated = now()"
            ),
            {"k": key, "v": json.dumps(value), "d": description, "c": category, "u": updated_by},
        )
