"""The rate limiter's blocks against the real Redis: several processes (limiters) sharing one
window never admit more than its limit, admit all of it when they keep asking, and far from
the limit most requests cost no round trip."""

from __future__ import annotations

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
