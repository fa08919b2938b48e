"""Feature-flag evaluation and the 10 s cache (time moved by an injected clock)."""

from __future__ import annotations

import uuid

from penguinmails.flags import Flag, FlagCache, TtlCache, bucket, evaluate, in_rollout

TENANTS = [uuid.UUID(int=uuid.uuid5(uuid.NAMESPACE_DNS, f"t{i}.test").int) for i in range(1000)]


def _reached(flag: Flag) -> set[uuid.UUID]:
    return {t for t in TENANTS if evaluate(flag, t)}


def test_thirty_percent_reaches_a_stable_thirty_percent_and_fifty_keeps_them() -> None:
    at_30 = _reached(Flag("new_editor", enabled=True, percent=30))
    assert 250 <= len(at_30) <= 350  # 30 % of 1,000 within 5 points
    assert _reached(Flag("new_editor", enabled=True, percent=30)) == at_30  # stable
    at_50 = _reached(Flag("new_editor", enabled=True, percent=50))
    assert 450 <= len(at_50) <= 550
    assert at_30 <= at_50  # raising the percentage only adds tenants
    assert _reached(Flag("new_editor", enabled=True, percent=100)) == set(TENANTS)
    assert _reached(Flag("new_editor", enabled=True, percent=0)) == set()


def test_the_hash_spreads_each_flag_differently() -> None:
    a = _reached(Flag("a", enabled=True, percent=30))
    b = _reached(Flag("b", enabled=True, percent=30))
    assert a != b
    assert 0 <= bucket("a", TENANTS[0]) < 10_000
    assert in_rollout("a", TENANTS[0], 100) and not in_rollout("a", TENANTS[0], 0)


def test_override_beats_rollout_and_the_global_switch() -> None:
    inside = next(t for t in TENANTS if in_rollout("f", t, 30))
    outside = next(t for t in TENANTS if not in_rollout("f", t, 30))
    flag = Flag("f", enabled=True, percent=30, overrides={inside: False, outside: True})
    assert not evaluate(flag, inside)
    assert evaluate(flag, outside)
    off = Flag("f", enabled=False, percent=100, overrides={outside: True})
    assert evaluate(off, outside)
    assert not evaluate(off, inside)  # globally off: only an override turns it on
    assert not evaluate(None, inside)  # an unknown flag is off


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_cache_holds_a_value_for_ten_seconds_then_reloads() -> None:
    clock = Clock()
    tenant = TENANTS[0]
    state = {"on": False, "loads": 0}

    async def load() -> dict[str, Flag]:
        state["loads"] += 1
        return {"f": Flag("f", enabled=bool(state["on"]), percent=100)}

    cache = FlagCache(load, ttl=10.0, clock=clock)
    assert not await cache.is_enabled("f", tenant)
    state["on"] = True  # a staff change in another process
    clock.now += 9.9
    assert not await cache.is_enabled("f", tenant)  # still the cached value
    assert state["loads"] == 1
    clock.now += 0.1
    assert await cache.is_enabled("f", tenant)  # within 10 s: seen
    assert state["loads"] == 2


async def test_invalidate_reloads_at_once() -> None:
    clock = Clock()
    values = iter([1, 2])

    async def load() -> int:
        return next(values)

    cache: TtlCache[int] = TtlCache(load, ttl=10.0, clock=clock)
    assert await cache.get() == 1
    assert await cache.get() == 1
    cache.invalidate()
    assert await cache.get() == 2
