"""The OLTP side of engagement events: the outbox's first open/click/reply times (never its
status) and the tenant's reporting time zone."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

_COLUMNS = frozenset({"opened_at", "clicked_at", "replied_at"})


class EngagementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_times(self, column: str, times: dict[UUID, dt.datetime]) -> int:
        """`column` of each outbox row set to the earliest time seen (idempotent: a replay
        with the same times changes nothing). Rows touched."""
        if column not in _COLUMNS:
            raise ValueError(f"not an engagement column: {column}")
        if not times:
            return 0
        rows = [{"id": str(k), "at": v.isoformat()} for k, v in times.items()]
        # The column is checked against a literal set above.
        sql = f"""UPDATE inbox_message_refs m SET {column} = r.at, updated = now()
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id uuid, at timestamptz)
            WHERE m.id = r.id AND (m.{column} IS NULL OR m.{column} > r.at)"""  # noqa: S608 — only module constants are interpolated
        result = await self.session.execute(
            text(sql),
            {"rows": json.dumps(rows)},
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def lead_messages(self, lead_id: UUID, limit: int) -> list[tuple[Any, ...]]:
        """The lead's outbound messages (test sends left out), newest first: id, campaign,
        status, sent time, created time."""
        result = await self.session.execute(
            text(
                "SELECT id, campaign_id, status, sent_at, created "
                "FROM inbox_message_refs WHERE lead_id = :lead AND direction = 'outbound' "
                "AND NOT is_test ORDER BY created DESC LIMIT :limit"
            ),
            {"lead": lead_id, "limit": limit},
        )
        return [tuple(row) for row in result]

    async def live_tenants(self) -> list[UUID]:
        """Every tenant not deleted (the system role's cross-tenant session)."""
        result = await self.session.execute(text("SELECT id FROM tenants WHERE deleted IS NULL"))
        return [row[0] for row in result]

    async def time_zone(self) -> str:
        """The session tenant's reporting zone (`tenant_config.ui_timezone`), UTC by default."""
        zone = (
            await self.session.execute(text("SELECT ui_timezone FROM tenant_config LIMIT 1"))
        ).scalar()
        return str(zone) if zone else "UTC"


__all__ = ["EngagementRepository"]
