"""Mailboxes (`email_accounts`) of a tenant. Credentials are in Vault; rows keep the path."""

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
from penguinmails.models.infra import Domain, EmailAccount
from penguinmails.repositories.pagination import Cursor, after, page_rows

UNIQUE_EMAIL = "uq_email_accounts_email_live"


class MailboxTaken(Exception):
    """A live mailbox with that address exists (in this tenant or another)."""


class EmailAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, account: EmailAccount) -> EmailAccount:
        try:
            async with self.session.begin_nested():
                self.session.add(account)
                await self.session.flush()
        except IntegrityError as exc:
            if UNIQUE_EMAIL in str(exc.orig):
                raise MailboxTaken(account.email) from None
            raise
        return account

    async def get(self, account_id: UUID, *, for_update: bool = False) -> EmailAccount | None:
        stmt = select(EmailAccount).where(
            EmailAccount.id == account_id,
            EmailAccount.deleted.is_(None),  # type: ignore[union-attr]
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def domain_named(self, name: str) -> Domain | None:
        stmt = select(Domain).where(Domain.domain == name, Domain.deleted.is_(None))  # type: ignore[union-attr]
        return (await self.session.exec(stmt)).first()

    async def update(self, account: EmailAccount, **fields: Any) -> EmailAccount:
        for name, value in fields.items():
            setattr(account, name, value)
        account.updated = utcnow()
        self.session.add(account)
        await self.session.flush()
        return account

    async def record_test(
        self, account: EmailAccount, status: str, result: dict[str, Any], at: datetime
    ) -> EmailAccount:
        return await self.update(account, status=status, last_test_result=result, last_tested_at=at)

    async def soft_delete(self, account: EmailAccount) -> None:
        await self.update(account, deleted=utcnow(), status="deleted")

    async def list_rows(
        self, cursor: Cursor | None, limit: int, columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await page_rows(
            self.session,
            EmailAccount,
            columns,
            cursor,
            limit,
            EmailAccount.deleted.is_(None),  # type: ignore[union-attr]
            name="email_accounts",
        )

    async def list(self, cursor: Cursor | None, limit: int) -> list[EmailAccount]:
        stmt = select(EmailAccount).where(EmailAccount.deleted.is_(None))  # type: ignore[union-attr]
        return list((await self.session.exec(after(stmt, EmailAccount, cursor, limit))).all())


async def dev_mailboxes(session: AsyncSession, host: str, port: int) -> list[tuple[str, str]]:
    """(address, vault_key_path) of every live mailbox whose IMAP server is the dev stack's
    Dovecot, across tenants: for the dev stack only, through `admin_session()`."""
    rows = await session.execute(
        text(
            "SELECT email, vault_key_path FROM email_accounts "
            "WHERE deleted IS NULL AND imap_settings->>'host' IN (:host, 'localhost') "
            "AND imap_settings->>'port' = :port ORDER BY created"
        ),
        {"host": host, "port": str(port)},
    )
    return [(str(r[0]), str(r[1])) for r in rows]


__all__ = ["EmailAccountRepository", "MailboxTaken", "dev_mailboxes"]
