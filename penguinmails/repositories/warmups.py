"""Warmups of mailboxes and IPs (`warmups`): today's cap, the ramp day, the status, and the
statuses the guide moves on the target (an IP `warming` -> `warmed`, its domains'
assignments `warming` -> `warmed`; a mailbox's `last_warmed_at`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.infra import LIVE_WARMUP_STATUSES, Warmup
from penguinmails.repositories.pagination import Cursor, after
from penguinmails.warmup import RampCurve, RampStep


class WarmupExists(Exception):
    """The mailbox or IP has a live warmup already."""


class WarmupTargetNotFound(Exception):
    pass


@dataclass(frozen=True)
class PoolPartner:
    tenant_id: UUID
    email_account_id: UUID
    email: str


class WarmupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        tenant_id: UUID,
        curve: RampCurve,
        today: dt.date,
        *,
        email_account_id: UUID | None = None,
        smtp_ip_address_id: UUID | None = None,
        pool: bool = False,
    ) -> Warmup:
        table, target = (
            ("email_accounts", email_account_id)
            if email_account_id
            else ("smtp_ip_addresses", smtp_ip_address_id)
        )
        found = await self.session.execute(
            text(f"SELECT 1 FROM {table} WHERE id = :id"),  # noqa: S608 — a fixed table name
            {"id": target},
        )
        if found.first() is None:
            raise WarmupTargetNotFound(str(target))
        warmup = Warmup(
            tenant_id=tenant_id,
            email_account_id=email_account_id,
            smtp_ip_address_id=smtp_ip_address_id,
            curve=curve.as_dict(),
            today_cap=curve.cap(0),
            cap_date=today,
            pool=pool and email_account_id is not None,  # only mailboxes exchange messages
        )
        try:
            async with self.session.begin_nested():
                self.session.add(warmup)
                await self.session.flush()
        except IntegrityError as exc:
            if "uq_warmups_" in str(exc.orig):
                raise WarmupExists(str(target)) from None
            raise
        if smtp_ip_address_id:
            await self._ip_status(smtp_ip_address_id, "warming", "warming")
        return warmup

    async def pool_partners(self, mailbox_id: UUID, limit: int) -> list[PoolPartner]:
        """Up to `limit` other mailboxes of the warmup pool, in random order (empty unless
        `mailbox_id` is itself in the pool under this session's tenant)."""
        rows = await self.session.execute(
            text("SELECT tenant_id, email_account_id, email FROM warmup_pool_partners(:m, :n)"),
            {"m": mailbox_id, "n": limit},
        )
        return [PoolPartner(r.tenant_id, r.email_account_id, r.email) for r in rows]

    async def get(self, warmup_id: UUID, *, for_update: bool = False) -> Warmup | None:
        stmt = select(Warmup).where(Warmup.id == warmup_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def page(self, cursor: Cursor | None, limit: int) -> list[Warmup]:
        return list(await self.session.exec(after(select(Warmup), Warmup, cursor, limit)))

    async def set_status(self, warmup: Warmup, status: str, reason: str | None = None) -> Warmup:
        warmup.status = status
        warmup.last_reason = reason or warmup.last_reason
        if status not in LIVE_WARMUP_STATUSES:
            warmup.ended = warmup.ended or utcnow()
        return await self._save(warmup)

    async def advance(self, warmup: Warmup, date: dt.date, step: RampStep) -> Warmup:
        """Today's cap from the ramp step; idempotent per date (a retry changes nothing)."""
        if warmup.cap_date is not None and warmup.cap_date >= date:
            return warmup
        warmup.day, warmup.today_cap, warmup.cap_date = step.day, step.cap, date
        warmup.last_reason = step.reason
        if warmup.status == "held" and step.reason is None:
            warmup.status = "active"
        elif step.reason and warmup.status == "active":
            warmup.status = "held"
        return await self._save(warmup)

    async def finish(self, warmup: Warmup, status: str, reason: str | None = None) -> Warmup:
        """`completed` (the target reached) or `stopped`; the target's statuses follow."""
        await self.set_status(warmup, status, reason)
        if warmup.smtp_ip_address_id:
            if reason == "burned":
                await self._ip_status(warmup.smtp_ip_address_id, "burned", "unwarmed")
            elif status == "completed":
                await self._ip_status(warmup.smtp_ip_address_id, "warmed", "warmed")
        if warmup.email_account_id and status == "completed":
            await self.session.execute(
                text("UPDATE email_accounts SET last_warmed_at = now() WHERE id = :id"),
                {"id": warmup.email_account_id},
            )
        return warmup

    async def _ip_status(self, ip_id: UUID, status: str, assignment_state: str) -> None:
        await self.session.execute(
            text(
                "UPDATE smtp_ip_addresses SET status = :status, updated = now() "
                "WHERE id = :id AND status NOT IN ('released', 'burned')"
            ),
            {"id": ip_id, "status": status},
        )
        await self.session.execute(
            text(
                "UPDATE domain_ip_assignments SET warmup_state = :state, updated = now() "
                "WHERE smtp_ip_address_id = :id AND status <> 'expired'"
            ),
            {"id": ip_id, "state": assignment_state},
        )

    async def _save(self, warmup: Warmup) -> Warmup:
        warmup.updated = utcnow()
        self.session.add(warmup)
        await self.session.flush()
        return warmup


__all__ = ["WarmupExists", "WarmupRepository", "WarmupTargetNotFound"]
