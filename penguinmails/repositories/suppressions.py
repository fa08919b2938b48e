"""The suppression list: address hashes and domains never to write to (DESIGN "Suppression")."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.leads.emails import address_hash
from penguinmails.models.leads import Suppression
from penguinmails.repositories.pagination import Cursor, after, page_rows


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        tenant_id: UUID,
        kind: str,
        value: str,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> tuple[Suppression, bool]:
        """Idempotent: an existing entry is returned as it is. True when created."""
        row = (
            await self.session.execute(
                text(
                    "INSERT INTO suppressions (tenant_id, kind, value, reason, details) "
                    "VALUES (:tenant_id, :kind, :value, :reason, CAST(:details AS jsonb)) "
                    "ON CONFLICT ON CONSTRAINT uq_suppressions_tenant_kind_value DO NOTHING "
                    "RETURNING id"
                ),
                {
                    "tenant_id": tenant_id,
                    "kind": kind,
                    "value": value,
                    "reason": reason,
                    "details": _json(details or {}),
                },
            )
        ).first()
        existing = await self.session.exec(
            select(Suppression).where(Suppression.kind == kind, Suppression.value == value)
        )
        return existing.one(), row is not None

    async def add_many(self, tenant_id: UUID, kind: str, values: list[str], reason: str) -> int:
        """Bulk insert; returns how many were new."""
        if not values:
            return 0
        result = await self.session.execute(
            text(
                "INSERT INTO suppressions (tenant_id, kind, value, reason) "
                "SELECT :tenant_id, :kind, v, :reason FROM unnest(CAST(:values AS text[])) v "
                "ON CONFLICT ON CONSTRAINT uq_suppressions_tenant_kind_value DO NOTHING"
            ),
            {"tenant_id": tenant_id, "kind": kind, "values": values, "reason": reason},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def suppress_address(
        self, tenant_id: UUID, address: str, reason: str, details: dict[str, Any] | None = None
    ) -> tuple[Suppression, bool]:
        return await self.add(tenant_id, "address", address_hash(address), reason, details)

    async def get(self, suppression_id: UUID) -> Suppression | None:
        return await self.session.get(Suppression, suppression_id)

    async def list(
        self, cursor: Cursor | None, limit: int, kind: str | None = None, value: str | None = None
    ) -> list[Suppression]:
        stmt = select(Suppression)
        if kind is not None:
            stmt = stmt.where(Suppression.kind == kind)
        if value is not None:
            stmt = stmt.where(Suppression.value == value)
        return list((await self.session.exec(after(stmt, Suppression, cursor, limit))).all())

    async def list_rows(
        self,
        cursor: Cursor | None,
        limit: int,
        columns: Sequence[str],
        kind: str | None = None,
        value: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        where = []
        if kind is not None:
            where.append(Suppression.kind == kind)
        if value is not None:
            where.append(Suppression.value == value)
        return await page_rows(
            self.session,
            Suppression,
            columns,
            cursor,
            limit,
            *where,
            name="suppressions" if not where else None,
        )

    async def delete(self, record: Suppression) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def is_suppressed(self, address: str) -> bool:
        """The check at enrollment and in the send transaction (address or its domain)."""
        domain = address.rsplit("@", 1)[-1].strip().lower()
        row = (
            await self.session.execute(
                text(
                    "SELECT 1 FROM suppressions WHERE (kind = 'address' AND value = :hash) "
                    "OR (kind = 'domain' AND value = :domain) LIMIT 1"
                ),
                {"hash": address_hash(address), "domain": domain},
            )
        ).first()
        return row is not None


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)
