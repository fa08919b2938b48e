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

    async def hit(self, scope: str, identity: str, limit: int) -> Decision:
        now = time.time()
        window_start = int(now // self.window) * self.window
        key = f"ratelimit:{scope}:{identity}:{window_start}"
        count = int(await self._script(keys=[key], args=[self.window + 1]))
        retry_after = max(1, int(window_start + self.window - now + 0.999))
        return Decision(count <= limit, count, retry_after)
