"""The dev stack's mailbox publisher: every mailbox whose IMAP server is the dev stack's
Dovecot becomes a Dovecot user with the IMAP password kept in Vault, so the mailbox test
logs in and replies land in it. Development only: it reads across tenants through
`admin_session()` and reads the passwords from Vault.
"""

from __future__ import annotations

import hashlib

from devstack.dovecot import Dovecot
from devstack.periodic import PeriodicSync
from penguinmails.db import Database
from penguinmails.mailboxes import IMAP_PASSWORD, SMTP_PASSWORD
from penguinmails.repositories.email_accounts import dev_mailboxes
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings


class MailboxPublisher(PeriodicSync):
    name = "dev mail publisher"

    def __init__(
        self, dovecot: Dovecot, settings: Settings, store: SecretStore, interval: float = 1.0
    ) -> None:
        super().__init__(settings, interval)
        self.dovecot = dovecot
        self.store = store
        self._known: dict[str, str] = {}  # address -> hash of the password published

    async def sync(self, db: Database) -> None:
        async with db.admin_session() as session:
            rows = await dev_mailboxes(session, self.dovecot.host, self.dovecot.port)
        for address, path in rows:
            secret = await self.store.read(path)
            if not secret:
                continue
            password = secret.get(IMAP_PASSWORD) or secret.get(SMTP_PASSWORD) or ""
            digest = hashlib.sha256(password.encode()).hexdigest()
            if self._known.get(address) != digest:
                self.dovecot.add_user(address, password)
                self._known[address] = digest


__all__ = ["MailboxPublisher"]
