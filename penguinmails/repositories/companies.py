"""Companies (workspaces) of a tenant."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.tenancy import Company
from penguinmails.repositories.pagination import Cursor, after, page_rows

# The list's filter, built once: the page's SQL is compiled once too (`page_rows`).
_LIVE = Company.deleted.is_(None)  # type: ignore[union-attr]


class CompanyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, tenant_id: UUID, **fields: Any) -> Company:
        company = Company(tenant_id=tenant_id, **fields)
        self.session.add(company)
        await self.session.flush()
        return company

    async def ensure_default(self, tenant_id: UUID, name: str) -> UUID:
        """The tenant's default workspace, created once (partial unique index decides races)."""
        row = (
            await self.session.execute(
                text(
                    "INSERT INTO companies (id, tenant_id, name, is_default) "
                    "VALUES (gen_random_uuid(), :tenant_id, :name, true) "
                    "ON CONFLICT (tenant_id) WHERE is_default AND deleted IS NULL DO NOTHING "
                    "RETURNING id"
                ),
                {"tenant_id": tenant_id, "name": name},
            )
        ).first()
        if row is not None:
            return UUID(str(row[0]))
        existing = await self.session.exec(
            select(Company.id).where(
                Company.tenant_id == tenant_id,
                Company.is_default.is_(True),  # type: ignore[attr-defined]
                Company.deleted.is_(None),  # type: ignore[union-attr]
            )
        )
        return existing.one()

    async def get(self, company_id: UUID) -> Company | None:
        result = await self.session.exec(
            select(Company).where(Company.id == company_id, Company.deleted.is_(None))  # type: ignore[union-attr]
        )
        return result.first()

    async def list(self, cursor: Cursor | None, limit: int) -> list[Company]:
        stmt = select(Company).where(Company.deleted.is_(None))  # type: ignore[union-attr]
        return list((await self.session.exec(after(stmt, Company, cursor, limit))).all())

    async def list_rows(
        self, cursor: Cursor | None, limit: int, columns: Sequence[str]
    ) -> builtins.list[dict[str, Any]]:
        return await page_rows(
            self.session,
            Company,
            columns,
            cursor,
            limit,
            _LIVE,
            name="companies",
        )

    async def update(self, company: Company, **fields: Any) -> Company:
        for name, value in fields.items():
            setattr(company, name, value)
        company.updated = utcnow()
        self.session.add(company)
        await self.session.flush()
        return company

    async def soft_delete(self, company: Company) -> None:
        company.deleted = utcnow()
        self.session.add(company)
        await self.session.flush()
