"""The `local` VPS provider: loopback addresses unique across every server (whoever ordered
it), activation after checks, failure injection shared through its state file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from activities.providers.local import LocalProvider
from penguinmails.providers import ACTIVE, GONE, PENDING, ProviderRejected, ProviderUnavailable


def _provider(tmp_path: Path, checks: int = 1) -> LocalProvider:
    return LocalProvider(
        tmp_path / "local.json", activate_after_seconds=0, activate_after_checks=checks
    )


async def test_addresses_are_unique_across_servers_and_processes(tmp_path: Path) -> None:
    # Two provider objects over one state file stand for two worker processes.
    a, b = _provider(tmp_path), _provider(tmp_path)
    made = await asyncio.gather(*(p.create("local", "h") for p in (a, b) * 10))
    ips = [ip for inst in made for ip in await a.list_ips(inst.instance_id)]
    assert len(ips) == 20 and len(set(ips)) == 20
    assert all(ip.startswith("127.0.0.") and ip != "127.0.0.1" for ip in ips)


async def test_a_cancelled_server_gives_its_address_back(tmp_path: Path) -> None:
    p = _provider(tmp_path)
    first = await p.create("local", "h")
    ip = (await p.list_ips(first.instance_id))[0]
    await p.cancel(first.instance_id, at_period_end=True)
    assert p.servers()[first.instance_id]["status"] == PENDING  # still paid for
    second = await p.create("local", "h")
    assert ip not in await p.list_ips(second.instance_id)
    await p.cancel(first.instance_id, at_period_end=False)
    await p.cancel(first.instance_id, at_period_end=False)  # twice: no error
    assert (await p.status(first.instance_id)).status == GONE
    third = await p.create("local", "h")
    assert await p.list_ips(third.instance_id) == [ip]


async def test_active_after_the_checks_with_its_addresses(tmp_path: Path) -> None:
    p = _provider(tmp_path, checks=3)
    inst = await p.create("local", "h")
    seen = [(await p.status(inst.instance_id)).status for _ in range(3)]
    assert seen == [PENDING, PENDING, ACTIVE]
    final = await p.status(inst.instance_id)
    assert final.ips and final.created is not None and final.monthly_cost is not None
    await p.set_reverse_dns(inst.instance_id, final.ips[0], "x.example.test")
    assert p.servers()[inst.instance_id]["rdns"] == {final.ips[0]: "x.example.test"}
    with pytest.raises(ProviderRejected):
        await p.set_reverse_dns(inst.instance_id, "127.0.0.1", "x.example.test")


async def test_told_to_fail_at_a_stage(tmp_path: Path) -> None:
    p = _provider(tmp_path)
    inst = await p.create("local", "h")
    _provider(tmp_path).fail("status")  # another process says so
    with pytest.raises(ProviderRejected):
        await p.status(inst.instance_id)
    p.fail("list_ips", times=2, unavailable=True)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await p.list_ips(inst.instance_id)
    assert await p.list_ips(inst.instance_id)  # the outage is over
    p.heal()
    assert (await p.status(inst.instance_id)).status == ACTIVE
    with pytest.raises(ValueError, match="unknown stage"):
        p.fail("reboot")
