"""The dev stack's DNS publisher: keeps the loopback DNS zone equal to the expected records
of every live domain in the database, so add domain -> verify -> send works in `make run`
without a registrar. Development only: it reads across tenants through `admin_session()`.

A thread polls once a second (a new domain is published within a second; a deleted one
disappears) and changes only the records it published itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from penguinmails.db import Database
from penguinmails.repositories.domains import all_expected_records
from penguinmails.settings import Settings
from penguinmails.stack.dns import Record, Zone

log = logging.getLogger(__name__)


class DomainPublisher:
    def __init__(self, zone: Zone, settings: Settings, interval: float = 1.0) -> None:
        self.zone = zone
        self.settings = settings
        self.interval = interval
        self._published: set[Record] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()  # set after each successful pass

    def start(self) -> DomainPublisher:
        self._thread = threading.Thread(target=self._run, name="dev-dns-publisher", daemon=True)
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
                except Exception as exc:  # the database restarting, say: try again
                    log.warning("dev DNS publisher: %s", " ".join(str(exc).split())[:200])
                await asyncio.to_thread(self._stop.wait, self.interval)
        finally:
            await db.dispose()

    async def sync(self, db: Database) -> None:
        async with db.admin_session() as session:
            rows = await all_expected_records(session)
        wanted = {
            Record(
                name=str(r["name"]).rstrip(".").lower() + ".",
                type=str(r["type"]).upper(),
                value=str(r["value"]),
                priority=int(r.get("priority") or 10),
            )
            for r in rows
        }
        for record in self._published - wanted:
            self.zone.discard(record)
        for record in wanted - self._published:
            self.zone.add_record(record)
        self._published = wanted
        self.synced.set()


__all__ = ["DomainPublisher"]
