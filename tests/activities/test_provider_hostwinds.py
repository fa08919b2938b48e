"""The Hostwinds client against a local server speaking the provider's documented contract:
the lifecycle calls, retries of 5xx and timeouts with backoff, refusals never retried, the
API key read from Vault."""

from __future__ import annotations

import pytest

from activities.providers.hostwinds import HostwindsProvider
from activities.providers.registry import API_KEY_FIELD, load_providers
from penguinmails.providers import ACTIVE, PENDING, ProviderRejected, ProviderUnavailable
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings
from tests.fixtures.hostwinds import HostwindsContract


def _client(api: HostwindsContract, key: str | None = None, **kw: float) -> HostwindsProvider:
    return HostwindsProvider(
        key or api.api_key,
        base_url=api.url,
        locations={"us-east": "2"},
        timeout=kw.get("timeout", 5.0),
        attempts=int(kw.get("attempts", 3)),
        backoff_seconds=0.01,
    )


async def test_create_poll_ips_rdns_cancel(hostwinds_api: HostwindsContract) -> None:
    hw = _client(hostwinds_api)
    made = await hw.create("us-east", "vps-1.mta.example.test")
    assert made.status == PENDING and made.ips == []
    added = hostwinds_api.requests[0]
    assert (added["action"], added["location_id"], added["rid"]) == ("add_instance", "2", "1")
    active = await hw.status(made.instance_id)
    assert active.status == ACTIVE and active.ips == ["198.51.100.11"]
    assert active.created is not None and active.created.day == 31
    assert str(active.monthly_cost) == "9.99"
    assert await hw.list_ips(made.instance_id) == ["198.51.100.11"]
    await hw.set_reverse_dns(made.instance_id, "198.51.100.11", "198-51-100-11.mta.test")
    inst = hostwinds_api.instances[made.instance_id]
    assert inst["rdns"] == {"198.51.100.11": "198-51-100-11.mta.test"}
    await hw.cancel(made.instance_id)
    assert inst["cancel"] == "end_of_billing_period" and inst["status"] == "active"
    await hw.cancel("999999")  # unknown: nothing to cancel, not an error


async def test_5xx_is_retried_with_backoff(hostwinds_api: HostwindsContract) -> None:
    hostwinds_api.outage(2, 502)
    made = await _client(hostwinds_api).create("us-east", "h")
    assert hostwinds_api.actions()[:3] == ["add_instance"] * 3
    assert made.instance_id in hostwinds_api.instances


async def test_outage_longer_than_the_attempts_is_unavailable(
    hostwinds_api: HostwindsContract,
) -> None:
    hostwinds_api.outage(5, 503)
    with pytest.raises(ProviderUnavailable, match="HTTP 503 after 3 attempts"):
        await _client(hostwinds_api).list_ips("1001")
    assert len(hostwinds_api.requests) == 3


async def test_timeout_is_retried_then_unavailable(hostwinds_api: HostwindsContract) -> None:
    hostwinds_api.stall(2, 0.5)
    with pytest.raises(ProviderUnavailable, match="Timeout"):
        await _client(hostwinds_api, timeout=0.1, attempts=2).list_ips("1001")
    assert len(hostwinds_api.requests) == 2


async def test_refusals_are_not_retried(hostwinds_api: HostwindsContract) -> None:
    with pytest.raises(ProviderRejected, match="HTTP 401: Invalid API key"):
        await _client(hostwinds_api, key="wrong").create("us-east", "h")
    assert len(hostwinds_api.requests) == 1
    with pytest.raises(ProviderRejected, match="Instance not found"):
        await _client(hostwinds_api).status("424242")
    assert len(hostwinds_api.requests) == 2


async def test_the_api_key_comes_from_vault(
    hostwinds_api: HostwindsContract, secret_store: SecretStore, settings: Settings
) -> None:
    path = "penguinmails/providers/hostwinds-test"
    configured = settings.model_copy(
        update={"hostwinds_api_url": hostwinds_api.url, "hostwinds_key_path": path}
    )
    with pytest.raises(SecretStoreError, match="no api_key"):
        await load_providers(configured, secret_store)
    await secret_store.write(path, {API_KEY_FIELD: hostwinds_api.api_key})
    providers = await load_providers(configured, secret_store)
    assert set(providers) == {"local", "hostwinds"}
    assert hostwinds_api.api_key not in repr(providers["hostwinds"])
    made = await providers["hostwinds"].create("us-east", "h")
    assert made.instance_id in hostwinds_api.instances
