"""Fixed-window rate limits in Redis, shared by every API process."""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

# INCR and set the window's expiry atomically; returns the count in this window.
_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# An authenticated request: the client address's window and the key's, in one round trip.
# A request refused by its address does not spend the key's budget (as when the address was
# checked first, on its own).
_BOTH = """
local ip = redis.call('INCR', KEYS[1])
if ip == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if ip > tonumber(ARGV[2]) then return {ip, 0} end
local key = redis.call('INCR', KEYS[2])
if key == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {ip, key}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int  # hits of this identity in the current window, this one included
    retry_after: int


class RateLimiter:
    def __init__(self, redis: Redis, window_seconds: int = 60) -> None:
        self.redis = redis
        self.window = window_seconds
        self._script = redis.register_script(_SCRIPT)
        self._both = redis.register_script(_BOTH)

    def _window(self) -> tuple[int, int]:
        now = time.time()
        window_start = int(now // self.window) * self.window
        return window_start, max(1, int(window_start + self.window - now + 0.999))

    async def hit(self, scope: str, identity: str, limit: int) -> Decision:
        window_start, retry_after = self._window()
        key = f"ratelimit:{scope}:{identity}:{window_start}"
        count = int(await self._script(keys=[key], args=[self.window + 1]))
        return Decision(count <= limit, count, retry_after)

    async def hit_ip_and_key(
        self, ip: str, ip_limit: int, key_id: str, key_limit: int
    ) -> tuple[Decision, Decision]:
        """Both windows of an authenticated request; the key's count is 0 (and allowed is
        False) when the address was refused first."""
        window_start, retry_after = self._window()
        keys = [f"ratelimit:ip:{ip}:{window_start}", f"ratelimit:key:{key_id}:{window_start}"]
        ip_count, key_count = await self._both(keys=keys, args=[self.window + 1, ip_limit])
        by_ip = Decision(int(ip_count) <= ip_limit, int(ip_count), retry_after)
        by_key = Decision(0 < int(key_count) <= key_limit, int(key_count), retry_after)
        return by_ip, by_key
