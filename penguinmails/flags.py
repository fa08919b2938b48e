"""Feature flags: pure evaluation, and the one cached read the API and the workers share.

A flag is on for a tenant when an override says so for that tenant; otherwise when it is
enabled globally and the tenant's bucket falls under its rollout percentage. The bucket is
`sha256(flag name + ":" + tenant id) mod 10000`, stable across processes and releases, so
raising the percentage only adds tenants and lowering it only removes them; hashing the
name in spreads different flags over different tenants.

`TtlCache` holds what was read for `ttl` seconds (10 by default): a change made by staff is
seen by every process within that time, without a message between them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

BUCKETS = 10_000
CACHE_SECONDS = 10.0

T = TypeVar("T")


@dataclass(frozen=True)
class Flag:
    name: str
    enabled: bool = False
    percent: int = 0  # 0-100, of the tenants, when enabled
    overrides: Mapping[UUID, bool] = field(default_factory=dict)


def bucket(name: str, tenant_id: UUID) -> int:
    digest = hashlib.sha256(f"{name}:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_rollout(name: str, tenant_id: UUID, percent: int) -> bool:
    return bucket(name, tenant_id) < percent * (BUCKETS // 100)


def evaluate(flag: Flag | None, tenant_id: UUID) -> bool:
    """Unknown flag: off. An override beats everything; then the global switch, then the
    rollout."""
    if flag is None:
        return False
    override = flag.overrides.get(tenant_id)
    if override is not None:
        return override
    return flag.enabled and in_rollout(flag.name, tenant_id, flag.percent)


class TtlCache(Generic[T]):
    """One value loaded by `load`, reloaded on the first read after `ttl` seconds. `clock`
    is injectable so tests move time instead of sleeping. Concurrent readers of an expired
    value wait for one reload."""

    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._expires = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        if self._value is not None and self._clock() < self._expires:
            return self._value
        async with self._lock:
            if self._value is None or self._clock() >= self._expires:
                self._value = await self._load()
                self._expires = self._clock() + self.ttl
        return self._value

    def invalidate(self) -> None:
        """Reload on the next read (this process only; the others within `ttl`)."""
        self._expires = float("-inf")


class FlagCache:
    """Every flag with its overrides, read at most once per `ttl` per process."""

    def __init__(
        self,
        load: Callable[[], Awaitable[Mapping[str, Flag]]],
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache: TtlCache[Mapping[str, Flag]] = TtlCache(load, ttl, clock)

    async def is_enabled(self, name: str, tenant_id: UUID) -> bool:
        return evaluate((await self.cache.get()).get(name), tenant_id)


__all__ = [
    "BUCKETS",
    "CACHE_SECONDS",
    "Flag",
    "FlagCache",
    "TtlCache",
    "bucket",
    "evaluate",
    "in_rollout",
]
