"""Fixed-window rate limits in Redis, shared by every API process.

Each process takes the window's budget from Redis in blocks (one `INCRBY` for several
requests) and counts the requests of a block locally: a request costs a Redis round trip
only when its process's block is used up. A block is at most an eighth of what the window
had left at the last refill (and at most `max_block`), so far from the limit few round trips
are needed and near it blocks shrink to one request, where the count is exact. No window
ever admits more than its limit: a request is allowed only when its own number in the
window's sequence is within it. One refill per key is on its way at a time: a burst of
requests finding no block waits for it and shares its block, instead of reserving a block
each. What blocks cost is the other way: requests a process
reserved but did not use are missing to the other processes until the window ends, at most
a block per process, and one request each near the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

# Reserve ARGV[2] of the window's count atomically, setting the expiry on its first use;
# returns the count after the reservation.
_SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# Blocks of both windows of an authenticated request in one round trip. A block refused by
# its address reserves nothing of the key's budget (as when the address was checked first,
# on its own).
_BOTH = """
local ip = redis.call('INCRBY', KEYS[1], ARGV[3])
if ip == tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if ip - tonumber(ARGV[3]) >= tonumber(ARGV[2]) then return {ip, 0} end
local key = redis.call('INCRBY', KEYS[2], ARGV[4])
if key == tonumber(ARGV[4]) then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {ip, key}
"""

MAX_BLOCK = 64
# Leases of past windows are dropped once this many identities are held.
MAX_LEASES = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int  # this request's number in the identity's window (1: the window's first)
    retry_after: int


@dataclass
class _Lease:
    window: int  # the window's start
    next_count: int  # the number the next local request takes
    end: int  # the last number of the block
    seen: int  # the highest total Redis answered in this window


class RateLimiter:
    def __init__(self, redis: Redis, window_seconds: int = 60, max_block: int = MAX_BLOCK) -> None:
        self.redis = redis
        self.window = window_seconds
        self.max_block = max(1, max_block)
        self._script = redis.register_script(_SCRIPT)
        self._both = redis.register_script(_BOTH)
        self._leases: dict[str, _Lease] = {}
        self._refilling: dict[str, asyncio.Future[None]] = {}

    def _window(self) -> tuple[int, int]:
        now = time.time()
        window_start = int(now // self.window) * self.window
        return window_start, max(1, int(window_start + self.window - now + 0.999))

    def _take(self, key: str, window: int) -> int | None:
        """The next number of this process's block, or None when it needs a refill."""
        lease = self._leases.get(key)
        if lease is None or lease.window != window or lease.next_count > lease.end:
            return None
        count = lease.next_count
        lease.next_count += 1
        return count

    def _block(self, key: str, window: int, limit: int) -> int:
        lease = self._leases.get(key)
        seen = lease.seen if lease is not None and lease.window == window else 0
        return max(1, min(self.max_block, (limit - seen) // 8))

    def _grant(self, key: str, window: int, total: int, block: int) -> int:
        """Keep the block Redis granted (it ends at `total`); this request takes its first
        number."""
        first = total - block + 1
        if len(self._leases) >= MAX_LEASES:
            self._leases = {k: v for k, v in self._leases.items() if v.window == window}
        lease = self._leases.get(key)
        seen = max(total, lease.seen) if lease is not None and lease.window == window else total
        self._leases[key] = _Lease(window, first + 1, total, seen)
        return first

    def _has(self, key: str, window: int) -> bool:
        lease = self._leases.get(key)
        return lease is not None and lease.window == window and lease.next_count <= lease.end

    async def _count(self, key: str, window: int, limit: int) -> int:
        """This request's number: from the process's block, else from a refill. One refill
        per key at a time: requests arriving while one is on its way wait for it and share
        its block (a burst at a window's start would otherwise reserve a block each)."""
        while True:
            count = self._take(key, window)
            if count is not None:
                return count
            pending = self._refilling.get(key)
            if pending is not None:
                await pending
                continue
            async with self._refilling_for(key):
                block = self._block(key, window, limit)
                total = int(await self._script(keys=[key], args=[self.window + 1, block]))
                return self._grant(key, window, total, block)

    @contextlib.asynccontextmanager
    async def _refilling_for(self, *keys: str) -> AsyncIterator[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._refilling[key] = done
        try:
            yield
        finally:
            for key in keys:
                if self._refilling.get(key) is done:
                    del self._refilling[key]
            done.set_result(None)

    async def hit(self, scope: str, identity: str, limit: int) -> Decision:
        window_start, retry_after = self._window()
        key = f"ratelimit:{scope}:{identity}:{window_start}"
        count = await self._count(key, window_start, limit)
        return Decision(count <= limit, count, retry_after)

    async def hit_ip_and_key(
        self, ip: str, ip_limit: int, key_id: str, key_limit: int
    ) -> tuple[Decision, Decision]:
        """Both windows of an authenticated request; the key's count is 0 (and allowed is
        False) when the address was refused first."""
        window_start, retry_after = self._window()
        ip_key = f"ratelimit:ip:{ip}:{window_start}"
        key_key = f"ratelimit:key:{key_id}:{window_start}"
        refused = Decision(False, 0, retry_after)  # the key's, when the address refuses
        ip_count = self._take(ip_key, window_start)
        key_count: int | None = None
        if (
            ip_count is None
            and not self._has(key_key, window_start)
            and ip_key not in self._refilling
            and key_key not in self._refilling
        ):
            # Both blocks used up (the common case at a window's start): one round trip.
            async with self._refilling_for(ip_key, key_key):
                ip_block = self._block(ip_key, window_start, ip_limit)
                key_block = self._block(key_key, window_start, key_limit)
                ip_total, key_total = await self._both(
                    keys=[ip_key, key_key],
                    args=[self.window + 1, ip_limit, ip_block, key_block],
                )
                ip_count = self._grant(ip_key, window_start, int(ip_total), ip_block)
                if int(key_total) == 0:  # refused by the address: nothing of the key's
                    return Decision(False, ip_count, retry_after), refused
                key_count = self._grant(key_key, window_start, int(key_total), key_block)
        elif ip_count is None:
            ip_count = await self._count(ip_key, window_start, ip_limit)
        if ip_count > ip_limit:
            return Decision(False, ip_count, retry_after), refused
        if key_count is None:
            key_count = await self._count(key_key, window_start, key_limit)
        by_ip = Decision(ip_count <= ip_limit, ip_count, retry_after)
        by_key = Decision(key_count <= key_limit, key_count, retry_after)
        return by_ip, by_key
