"""Leads: filtered pages, updates, soft delete and erasure."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import exists, func, text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.leads import Lead, LeadList, LeadListMember
from penguinmails.repositories.pagination import Cursor, after


@dataclass(frozen=True)
class LeadFilters:
    list_id: UUID | None = None
    status: str | None = None
    email_prefix: str | None = None
    company: str | None = None  # the lead's company name, case-insensitive
    company_id: UUID | None = None  # leads in a list of that workspace


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, lead_id: UUID) -> Lead | None:
        result = await self.session.exec(
            select(Lead).where(Lead.id == lead_id, Lead.deleted.is_(None))  # type: ignore[union-attr]
        )
        return result.first()

    async def list(
        self, filters: LeadFilters, cursor: Cursor | None, limit: int
    ) -> builtins.list[Lead]:
        stmt = select(Lead).where(Lead.deleted.is_(None))  # type: ignore[union-attr]
        if filters.status is not None:
            stmt = stmt.where(Lead.status == filters.status)
        if filters.email_prefix:
            stmt = stmt.where(
                func.lower(Lead.email).like(_like_escape(filters.email_prefix.lower()) + "%")
            )
        if filters.company:
            stmt = stmt.where(func.lower(Lead.company) == filters.company.lower())
        if filters.list_id is not None or filters.company_id is not None:
            sub = select(LeadListMember.id).where(LeadListMember.lead_id == Lead.id)
            if filters.list_id is not None:
                sub = sub.where(LeadListMember.lead_list_id == filters.list_id)
            if filters.company_id is not None:
                sub = sub.join(LeadList, LeadList.id == LeadListMember.lead_list_id).where(  # type: ignore[arg-type]
                    LeadList.company_id == filters.company_id
                )
            stmt = stmt.where(exists(sub))
        return list((await self.session.exec(after(stmt, Lead, cursor, limit))).all())

    async def lists_of(self, lead_id: UUID) -> builtins.list[UUID]:
        result = await self.session.exec(
            select(LeadListMember.lead_list_id).where(LeadListMember.lead_id == lead_id)
        )
        return list(result.all())

    async def update(self, lead: Lead, **fields: Any) -> Lead:
        for name, value in fields.items():
            setattr(lead, name, value)
        lead.updated = utcnow()
        self.session.add(lead)
        await self.session.flush()
        return lead

    async def soft_delete(self, lead: Lead) -> None:
        lead.deleted = utcnow()
        self.session.add(lead)
        await self.session.flush()

    async def get_any(self, lead_id: UUID) -> Lead | None:
        """Also a soft-deleted lead (erasure must reach it too)."""
        return await self.session.get(Lead, lead_id)

    async def anonymise(self, lead_id: UUID) -> bool:
        """Overwrite every personal column; the row stays (list counts, campaign history)
        with status `erased`. True when a row was changed."""
        result = await self.session.execute(
            text(
                "UPDATE leads SET email = 'erased-' || id::text || '@erased.invalid', "
                "first_name = NULL, last_name = NULL, company = NULL, position = NULL, "
                "timezone = NULL, custom_fields = '{}'::jsonb, status = 'erased', "
                "role_account = false, disposable_domain = false, "
                "deleted = COALESCE(deleted, now()), updated = now() "
                "WHERE id = :id AND status <> 'erased'"
            ),
            {"id": lead_id},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def message_content_keys(self, lead_id: UUID) -> builtins.list[str]:
        """Content-store keys of the messages sent to or received from the lead."""
        rows = await self.session.execute(
            text(
                "SELECT content_storage_key FROM inbox_message_refs "
                "WHERE lead_id = :id AND content_storage_key IS NOT NULL"
            ),
            {"id": lead_id},
        )
        return [r[0] for r in rows]
