"""A background thread that brings something in line with the database every few seconds:
the dev stack's DNS and mailbox publishers. A failed pass (the database restarting, say) is
logged and tried again on the next tick."""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod

from penguinmails.db import Database
from penguinmails.settings import Settings

log = logging.getLogger(__name__)


class PeriodicSync(ABC):
    name = "periodic sync"

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    async def sync(self, db: Database) -> None:
        """One pass; must be idempotent."""

    def start(self) -> PeriodicSync:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
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
                    log.warning("%s: %s", self.name, " ".join(str(exc).split())[:200])
                await asyncio.to_thread(self._stop.wait, self.interval)
        finally:
            await db.dispose()
