"""The dev stack's mailbox publisher: every mailbox whose IMAP server is the dev stack's
Dovecot becomes a Dovecot user with the IMAP password kept in Vault, so the mailbox test
logs in and replies land in it. Development only: it reads across tenants through
`admin_session()` and reads the passwords from Vault.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading

from penguinmails.db import Database
from penguinmails.mailboxes import IMAP_PASSWORD, SMTP_PASSWORD
from penguinmails.repositories.email_accounts import dev_mailboxes
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from penguinmails.stack.dovecot import Dovecot

log = logging.getLogger(__name__)


class MailboxPublisher:
    def __init__(
        self, dovecot: Dovecot, settings: Settings, store: SecretStore, interval: float = 1.0
    ) -> None:
        self.dovecot = dovecot
        self.settings = settings
        self.store = store
        self.interval = interval
        self._known: dict[str, str] = {}  # address -> hash of the password published
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MailboxPublisher:
        self._thread = threading.Thread(target=self._run, name="dev-mail-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        db = Database(self.settings)
        try:
            while not self._stop.is_set():
                try:
                    await self.sync(db)
                except Exception as exc:  # a service restarting: try again next time
                    log.warning("dev mail publisher: %s", " ".join(str(exc).split())[:200])
                await asyncio.to_thread(self._stop.wait, self.interval)
        finally:
            await db.dispose()

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
