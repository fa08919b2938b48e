"""Lead lists and their members."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.leads import LeadList
from penguinmails.repositories.pagination import Cursor, after, page_rows

EXPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "position",
    "timezone",
    "status",
    "custom_fields",
)


class LeadListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, tenant_id: UUID, **fields: Any) -> LeadList:
        record = LeadList(tenant_id=tenant_id, **fields)
        self.session.add(record)
        await self.session.flush()
        return record

    async def get(self, list_id: UUID) -> LeadList | None:
        result = await self.session.exec(
            select(LeadList).where(LeadList.id == list_id, LeadList.deleted.is_(None))  # type: ignore[union-attr]
        )
        return result.first()

    async def list(
        self, cursor: Cursor | None, limit: int, company_id: UUID | None = None
    ) -> list[LeadList]:
        stmt = select(LeadList).where(LeadList.deleted.is_(None))  # type: ignore[union-attr]
        if company_id is not None:
            stmt = stmt.where(LeadList.company_id == company_id)
        return list((await self.session.exec(after(stmt, LeadList, cursor, limit))).all())

    async def list_rows(
        self,
        cursor: Cursor | None,
        limit: int,
        columns: Sequence[str],
        company_id: UUID | None = None,
    ) -> builtins.list[dict[str, Any]]:
        where = [LeadList.deleted.is_(None)]  # type: ignore[union-attr]
        if company_id is not None:
            where.append(LeadList.company_id == company_id)
        return await page_rows(
            self.session,
            LeadList,
            columns,
            cursor,
            limit,
            *where,
            name="lead_lists" if company_id is None else None,
        )

    async def update(self, record: LeadList, **fields: Any) -> LeadList:
        for name, value in fields.items():
            setattr(record, name, value)
        record.updated = utcnow()
        self.session.add(record)
        await self.session.flush()
        return record

    async def soft_delete(self, record: LeadList) -> None:
        record.deleted = utcnow()
        self.session.add(record)
        await self.session.flush()

    async def mark_importing(self, record: LeadList, key: str, filename: str | None) -> None:
        await self.update(
            record, status="importing", content_storage_key=key, original_filename=filename
        )

    async def export_rows(
        self, list_id: UUID, batch: int = 2000
    ) -> AsyncIterator[builtins.list[Any]]:
        """The list's live leads in batches, by keyset on the lead id (bounded memory)."""
        last: UUID | None = None
        while True:
            rows = (
                await self.session.execute(
                    text(
                        "SELECT l.id, " + ", ".join(f"l.{c}" for c in EXPORT_COLUMNS) + " "
                        "FROM lead_list_members m JOIN leads l "
                        "ON l.tenant_id = m.tenant_id AND l.id = m.lead_id "
                        "WHERE m.lead_list_id = :list_id AND l.deleted IS NULL "
                        "AND (CAST(:last AS uuid) IS NULL OR l.id > CAST(:last AS uuid)) "
                        "ORDER BY l.id LIMIT :batch"
                    ),
                    {"list_id": list_id, "last": last, "batch": batch},
                )
            ).all()
            if not rows:
                return
            yield [builtins.list(r) for r in rows]
            last = rows[-1][0]
