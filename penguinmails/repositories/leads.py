"""Leads: filtered pages, updates, soft delete (erasure: repositories/erasure.py)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import exists, func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.leads import Lead, LeadList, LeadListMember
from penguinmails.repositories.pagination import Cursor, after, page_rows


@dataclass(frozen=True)
class LeadFilters:
    list_id: UUID | None = None
    status: str | None = None
    email_prefix: str | None = None
    company: str | None = None  # the lead's company name, case-insensitive
    company_id: UUID | None = None  # leads in a list of that workspace


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(filters: LeadFilters) -> list[Any]:
    where: list[Any] = [Lead.deleted.is_(None)]  # type: ignore[union-attr]
    if filters.status is not None:
        where.append(Lead.status == filters.status)
    if filters.email_prefix:
        where.append(
            Lead.email_key.like(_like_escape(filters.email_prefix.lower()) + "%")  # type: ignore[union-attr]
        )
    if filters.company:
        where.append(func.lower(Lead.company) == filters.company.lower())
    if filters.list_id is not None or filters.company_id is not None:
        sub = select(LeadListMember.lead_id).where(LeadListMember.lead_id == Lead.id)
        if filters.list_id is not None:
            sub = sub.where(LeadListMember.lead_list_id == filters.list_id)
        if filters.company_id is not None:
            sub = sub.join(LeadList, LeadList.id == LeadListMember.lead_list_id).where(  # type: ignore[arg-type]
                LeadList.company_id == filters.company_id
            )
        where.append(exists(sub))
    return where


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
        stmt = select(Lead).where(*_where(filters))
        return list((await self.session.exec(after(stmt, Lead, cursor, limit))).all())

    async def list_rows(
        self, filters: LeadFilters, cursor: Cursor | None, limit: int, columns: Sequence[str]
    ) -> builtins.list[dict[str, Any]]:
        return await page_rows(
            self.session,
            Lead,
            columns,
            cursor,
            limit,
            *_where(filters),
            name="leads" if filters == LeadFilters() else None,
        )

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
