"""Account credits staff grant a tenant (`account_credits`)."""

from __future__ import annotations

from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.billing import AccountCredit


class CreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, tenant_id: UUID, amount_cents: int, reason: str, staff_user_id: UUID | None
    ) -> AccountCredit:
        credit = AccountCredit(
            tenant_id=tenant_id,
            amount_cents=amount_cents,
            reason=reason,
            staff_user_id=staff_user_id,
        )
        self.session.add(credit)
        await self.session.flush()
        return credit

    async def total_cents(self, tenant_id: UUID) -> int:
        rows = await self.session.exec(
            select(col(AccountCredit.amount_cents)).where(AccountCredit.tenant_id == tenant_id)
        )
        return sum(rows.all())


__all__ = ["CreditRepository"]
