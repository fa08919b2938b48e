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

# The list's filter, built once: the page's SQL is compiled once too (`page_rows`).
_LIVE = EmailAccount.deleted.is_(None)  # type: ignore[union-attr]

UNIQUE_EMAIL = "uq_email_accounts_email_live"


# Outbound rows that reached the mailbox's server (the breaker's rates count the same).
_SENT_STATUSES = "('sent', 'delivered', 'bounced', 'unknown', 'opened', 'replied')"

_HEALTH = text(
    f"""
    SELECT ea.status, ea.pause_reasons, ea.daily_cap, ea.timezone,
           (now() AT TIME ZONE ea.timezone)::date AS today,
           coalesce(c.sent_count, 0) AS used_today,
           coalesce(s.today, 0) AS sent_today, coalesce(s.week, 0) AS sent_7d,
           coalesce(s.month, 0) AS sent_30d,
           w.id AS warmup_id, w.status AS warmup_status, w.day AS warmup_day,
           w.today_cap AS warmup_today_cap, w.cap_date AS warmup_cap_date
    FROM email_accounts ea
    LEFT JOIN mailbox_daily_counters c
      ON c.email_account_id = ea.id AND c.day = (now() AT TIME ZONE ea.timezone)::date
    LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE (coalesce(r.sent_at, r.created) AT TIME ZONE ea.timezone)::date
                                    = (now() AT TIME ZONE ea.timezone)::date) AS today,
             count(*) FILTER (WHERE coalesce(r.sent_at, r.created) >= now() - interval '7 days')
               AS week,
             count(*) AS month
      FROM inbox_message_refs r
      WHERE r.email_account_id = ea.id AND r.direction = 'outbound' AND NOT r.is_test
        AND r.status IN {_SENT_STATUSES}
        AND coalesce(r.sent_at, r.created) >= now() - interval '30 days'
    ) s ON true
    LEFT JOIN LATERAL (
      SELECT id, status, day, today_cap, cap_date FROM warmups
      WHERE email_account_id = ea.id AND ended IS NULL
        AND status IN ('active', 'paused', 'held')
      ORDER BY created DESC LIMIT 1
    ) w ON true
    WHERE ea.id = :id AND ea.deleted IS NULL
    """  # noqa: S608 — only a module constant is interpolated
)


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
            _LIVE,
            name="email_accounts",
        )

    async def list(self, cursor: Cursor | None, limit: int) -> list[EmailAccount]:
        stmt = select(EmailAccount).where(EmailAccount.deleted.is_(None))  # type: ignore[union-attr]
        return list((await self.session.exec(after(stmt, EmailAccount, cursor, limit))).all())

    async def health(self, account_id: UUID) -> dict[str, Any] | None:
        """The mailbox's figures for its health page: status and pause reasons, messages
        sent today (its own zone's day), in 7 and in 30 days, its day counter against its
        cap, and its live warmup if any. None for a mailbox that is not the tenant's
        (row-level security) or is deleted."""
        row = (await self.session.execute(_HEALTH, {"id": account_id})).first()
        return dict(row._mapping) if row else None


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
