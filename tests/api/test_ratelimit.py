"""The rate limiter's blocks against the real Redis: several processes (limiters) sharing one
window never admit more than its limit, admit all of it when they keep asking, and far from
the limit most requests cost no round trip."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from api.ratelimit import RateLimiter


class Counting(Redis):  # type: ignore[type-arg]
    """Counts the scripts run (the limiter's round trips)."""

    calls = 0

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        Counting.calls += 1
        return await super().evalsha(*args, **kwargs)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:  # type: ignore[type-arg]
    client = Counting.from_url(redis_url)
    yield client
    await client.aclose()


async def test_processes_sharing_a_window_admit_exactly_its_limit(redis: Redis) -> None:  # type: ignore[type-arg]
    processes = [RateLimiter(redis) for _ in range(3)]
    identity = uuid.uuid4().hex
    allowed = 0
    for n in range(3 * 60):  # 180 requests, interleaved, for a limit of 100
        decision = await processes[n % 3].hit("key", identity, 100)
        allowed += decision.allowed
        assert decision.count >= 1
    assert allowed == 100


async def test_far_from_the_limit_requests_take_blocks(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter = RateLimiter(redis)
    identity = uuid.uuid4().hex
    before = Counting.calls
    counts = [(await limiter.hit("key", identity, 10_000)).count for _ in range(640)]
    assert counts == list(range(1, 641))  # the window's sequence, the first request first
    assert Counting.calls - before <= 12  # blocks of 64: ten round trips for 640 requests


async def test_an_address_refused_spends_nothing_of_the_key(redis: Redis) -> None:  # type: ignore[type-arg]
    limiter, other = RateLimiter(redis), RateLimiter(redis)
    ip, key = uuid.uuid4().hex, uuid.uuid4().hex
    results = [await limiter.hit_ip_and_key(ip, 3, key, 1000) for _ in range(5)]
    assert [(a.allowed, k.allowed) for a, k in results] == [(True, True)] * 3 + [(False, False)] * 2
    assert [k.count for _, k in results] == [1, 2, 3, 0, 0]
    # The key's budget shows only the three admitted requests, from another process too.
    from_elsewhere = await other.hit_ip_and_key(uuid.uuid4().hex, 3, key, 1000)
    assert from_elsewhere[1].allowed and from_elsewhere[1].count >= 4


async def test_a_burst_at_a_window_s_start_shares_one_refill(redis: Redis) -> None:  # type: ignore[type-arg]
    """Concurrent requests finding no block wait for the one refill on its way instead of
    reserving a block each (which would use up the window with nothing admitted)."""
    limiter = RateLimiter(redis)
    ip, key = uuid.uuid4().hex, uuid.uuid4().hex
    before = Counting.calls
    results = await asyncio.gather(*(limiter.hit_ip_and_key(ip, 120, key, 100) for _ in range(40)))
    assert all(a.allowed and k.allowed for a, k in results)
    assert sorted(k.count for _, k in results) == list(range(1, 41))
    assert Counting.calls - before <= 10  # blocks of an eighth of what is left; 40 without
    alone = await asyncio.gather(*(limiter.hit("ip", uuid.uuid4().hex, 8) for _ in range(3)))
    assert all(d.allowed for d in alone)
    same = uuid.uuid4().hex
    burst = await asyncio.gather(*(limiter.hit("ip", same, 8) for _ in range(12)))
    assert sorted(d.count for d in burst) == list(range(1, 13))
    assert [d.allowed for d in sorted(burst, key=lambda d: d.count)] == [True] * 8 + [False] * 4
