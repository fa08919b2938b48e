"""Mailboxes (`email_accounts`): adding one with its credentials in Vault only, reading the
credentials back for the SMTP and IMAP activities. Shared by the API and the CLI.

Nothing is half-written: the row and the Vault write happen in one transaction; when the
secret store fails, the row is rolled back; when the commit fails after the write, the
secret is deleted again.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from penguinmails.db import Database
from penguinmails.mail.records import InvalidDomain, normalize_domain
from penguinmails.models.infra import EmailAccount
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.secrets import SecretStore, SecretStoreError

log = logging.getLogger(__name__)

SMTP_PASSWORD = "smtp_password"
IMAP_PASSWORD = "imap_password"
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


class InvalidAddress(ValueError):
    pass


class DomainNotRegistered(Exception):
    """The mailbox's domain is not one of the tenant's domains."""


def normalize_address(value: str) -> str:
    """Lower-case `local@domain` (domain in A-labels); InvalidAddress otherwise. Plain
    dot-atom local parts only: what a sending mailbox needs, no quoted forms."""
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL.match(local):
        raise InvalidAddress(f"{value!r} is not a valid e-mail address")
    try:
        return f"{local}@{normalize_domain(domain)}"
    except InvalidDomain:
        raise InvalidAddress(f"{value!r} is not a valid e-mail address") from None


def credentials_path(tenant_id: UUID, account_id: UUID) -> str:
    return f"tenants/{tenant_id}/email-accounts/{account_id}"


@dataclass(frozen=True)
class Credentials:
    smtp_password: str = field(repr=False)
    imap_password: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


async def add_mailbox(
    db: Database,
    store: SecretStore,
    tenant_id: UUID,
    *,
    email: str,
    smtp_password: str,
    imap_password: str,
    **fields: Any,
) -> EmailAccount:
    """Raises DomainNotRegistered, MailboxTaken, SecretStoreError."""
    account_id = uuid4()
    path = credentials_path(tenant_id, account_id)
    written = False
    try:
        async with db.tenant_session(tenant_id) as session:
            repo = EmailAccountRepository(session)
            await PlanLimitRepository(session, tenant_id).take("mailboxes")
            domain = await repo.domain_named(email.rpartition("@")[2])
            if domain is None:
                raise DomainNotRegistered(email.rpartition("@")[2])
            account = await repo.create(
                EmailAccount(
                    id=account_id,
                    tenant_id=tenant_id,
                    domain_id=domain.id,
                    email=email,
                    vault_key_path=path,
                    status="pending",
                    **fields,
                )
            )
            await store.write(path, {SMTP_PASSWORD: smtp_password, IMAP_PASSWORD: imap_password})
            written = True
    except BaseException:
        if written:
            with contextlib.suppress(SecretStoreError):
                await store.delete(path)
        raise
    log.info("mailbox %s added for tenant %s (credentials at %s)", account_id, tenant_id, path)
    return account


async def set_passwords(
    db: Database,
    store: SecretStore,
    tenant_id: UUID,
    account_id: UUID,
    *,
    smtp_password: str | None = None,
    imap_password: str | None = None,
    **fields: Any,
) -> EmailAccount | None:
    """Replace one or both passwords, and apply `fields` to the row in the same transaction
    (the row is locked meanwhile; the status goes back to `pending` until the next test).
    None when there is no such mailbox."""
    async with db.tenant_session(tenant_id) as session:
        repo = EmailAccountRepository(session)
        account = await repo.get(account_id, for_update=True)
        if account is None:
            return None
        if smtp_password is None or imap_password is None:  # keep the one not given
            current = await read_credentials(store, account)
            smtp_password = smtp_password or current.smtp_password
            imap_password = imap_password or current.imap_password
        await store.write(
            account.vault_key_path, {SMTP_PASSWORD: smtp_password, IMAP_PASSWORD: imap_password}
        )
        return await repo.update(account, **{**fields, "status": "pending"})


async def read_credentials(store: SecretStore, account: EmailAccount) -> Credentials:
    secret = await store.read(account.vault_key_path)
    if not secret or SMTP_PASSWORD not in secret:
        raise SecretStoreError(f"no credentials at {account.vault_key_path}")
    return Credentials(secret[SMTP_PASSWORD], secret.get(IMAP_PASSWORD, secret[SMTP_PASSWORD]))


async def remove_mailbox(
    db: Database, store: SecretStore, tenant_id: UUID, account_id: UUID
) -> bool:
    async with db.tenant_session(tenant_id) as session:
        repo = EmailAccountRepository(session)
        account = await repo.get(account_id, for_update=True)
        if account is None:
            return False
        await store.delete(account.vault_key_path)
        await repo.soft_delete(account)
    return True


__all__ = [
    "Credentials",
    "DomainNotRegistered",
    "InvalidAddress",
    "add_mailbox",
    "credentials_path",
    "normalize_address",
    "read_credentials",
    "remove_mailbox",
    "set_passwords",
]
