"""Sending domains of a tenant, their expected DNS records and per-record check results.

`dns_records` (JSONB) holds `{"records": [...]}`: each expected record (purpose, type,
name, value, priority) with the result of its last check (`status` pending/pass/fail,
`found`, `detail`, `checked_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.infra import Domain
from penguinmails.repositories.ip_addresses import ASSIGNED_IP, TENANT_IPS
from penguinmails.repositories.pagination import Cursor, after, page_rows

# The list's filter, built once: the page's SQL is compiled once too (`page_rows`).
_LIVE = Domain.deleted.is_(None)  # type: ignore[union-attr]

_ASSIGNED_IPS = f"""
SELECT DISTINCT host(ip.ip_address) FROM domain_ip_assignments a
JOIN {TENANT_IPS} ip ON ip.id = {ASSIGNED_IP}
WHERE a.domain_id = :domain_id AND a.status IN ('scheduled', 'warming', 'active')
"""  # noqa: S608 — module constants only

UNIQUE_DOMAIN = "uq_domains_domain_live"


class DomainTaken(Exception):
    """A live domain of that name exists (in this tenant or another)."""


class DomainRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, domain: Domain) -> Domain:
        """Insert in a savepoint, so a taken name leaves the transaction usable."""
        try:
            async with self.session.begin_nested():
                self.session.add(domain)
                await self.session.flush()
        except IntegrityError as exc:
            if UNIQUE_DOMAIN in str(exc.orig):
                raise DomainTaken(domain.domain) from None
            raise
        return domain

    async def get(self, domain_id: UUID, *, for_update: bool = False) -> Domain | None:
        stmt = select(Domain).where(Domain.id == domain_id, Domain.deleted.is_(None))  # type: ignore[union-attr]
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def assigned_ips(self, domain_id: UUID) -> list[str]:
        """The sending IPs currently assigned to the domain, its own and shared ones (they go
        into its SPF record)."""
        rows = await self.session.execute(
            text(_ASSIGNED_IPS),
            {"domain_id": domain_id},
        )
        return sorted(str(r[0]) for r in rows)

    async def set_status(self, domain: Domain, status: str) -> Domain:
        domain.verification_status = status
        domain.updated = utcnow()
        self.session.add(domain)
        await self.session.flush()
        return domain

    async def save_check(
        self,
        domain: Domain,
        records: Sequence[dict[str, Any]],
        status: str,
        checked_at: datetime,
    ) -> Domain:
        domain.dns_records = {**(domain.dns_records or {}), "records": list(records)}
        domain.verification_status = status
        domain.last_checked_at = checked_at
        if status == "verified" and domain.verified_at is None:
            domain.verified_at = checked_at
        domain.updated = utcnow()
        self.session.add(domain)
        await self.session.flush()
        return domain

    async def soft_delete(self, domain: Domain) -> None:
        domain.deleted = utcnow()
        self.session.add(domain)
        await self.session.flush()

    async def list_rows(
        self, cursor: Cursor | None, limit: int, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await page_rows(
            self.session,
            Domain,
            columns,
            cursor,
            limit,
            _LIVE,
            name="domains",
        )

    async def list(self, cursor: Cursor | None, limit: int) -> list[Domain]:
        stmt = select(Domain).where(Domain.deleted.is_(None))  # type: ignore[union-attr]
        return list((await self.session.exec(after(stmt, Domain, cursor, limit))).all())


async def all_expected_records(session: AsyncSession) -> list[dict[str, Any]]:
    """Every live domain's expected records, across tenants: for the dev stack's DNS server
    only, through `admin_session()`."""
    rows = await session.execute(
        text("SELECT dns_records FROM domains WHERE deleted IS NULL ORDER BY created")
    )
    out: list[dict[str, Any]] = []
    for (value,) in rows:
        out.extend((value or {}).get("records", []))
    return out


__all__ = ["DomainRepository", "DomainTaken", "all_expected_records"]
