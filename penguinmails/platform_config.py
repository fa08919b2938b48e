"""The one read of feature flags and system configuration, shared by the API and the
workers: each process holds a `PlatformConfig` whose caches reload at most every 10 s, so
a staff change takes effect everywhere within that time."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from penguinmails.db import Database
from penguinmails.flags import CACHE_SECONDS, Flag, FlagCache, TtlCache
from penguinmails.repositories.flags import FeatureFlagRepository
from penguinmails.repositories.system_config import SystemConfigRepository
from penguinmails.settings import Settings
from penguinmails.sysconfig import effective


class PlatformConfig:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.settings = settings
        self.flags = FlagCache(self._flags, ttl, clock)
        self.config: TtlCache[Mapping[str, Any]] = TtlCache(self._config, ttl, clock)

    async def _flags(self) -> Mapping[str, Flag]:
        async with self.db.admin_session() as session:
            return await FeatureFlagRepository(session).flags()

    async def _config(self) -> Mapping[str, Any]:
        async with self.db.admin_session() as session:
            stored = await SystemConfigRepository(session).values()
        return effective(stored, self.settings)

    async def enabled(self, flag: str, tenant_id: UUID) -> bool:
        return await self.flags.is_enabled(flag, tenant_id)

    async def value(self, key: str) -> Any:
        """A known `system_config` key's value (its default when unset)."""
        return (await self.config.get())[key]

    def invalidate(self) -> None:
        """After a change made by this process: it sees it at once, the others within 10 s."""
        self.flags.cache.invalidate()
        self.config.invalidate()


__all__ = ["PlatformConfig"]
