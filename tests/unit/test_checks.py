"""A service that cannot be reached gives one line naming it and its URL, without secrets."""

import pytest

from devstack.ports import free_port
from penguinmails.checks import (
    ServiceUnavailable,
    check_postgres,
    check_redis,
    check_temporal,
    check_vault,
    redact_url,
)


def _assert_one_line(exc: ServiceUnavailable, service: str, shown_url: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"{service} is not reachable at {shown_url}: ")
    assert "Traceback" not in message
    assert len(message) < 300


async def test_postgres_unreachable_hides_the_password() -> None:
    port = free_port()
    url = f"postgresql://app:hunter2@127.0.0.1:{port}/penguinmails"
    with pytest.raises(ServiceUnavailable) as excinfo:
        await check_postgres(url, connect_timeout=2)
    assert "hunter2" not in str(excinfo.value)
    _assert_one_line(
        excinfo.value, "Postgres", f"postgresql://app:***@127.0.0.1:{port}/penguinmails"
    )


async def test_redis_unreachable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ServiceUnavailable) as excinfo:
        await check_redis(url, connect_timeout=2)
    _assert_one_line(excinfo.value, "Redis", url)
    assert "refused" in str(excinfo.value).lower()


async def test_temporal_unreachable() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as excinfo:
        await check_temporal(address, connect_timeout=5)
    _assert_one_line(excinfo.value, "Temporal", address)


async def test_vault_unreachable() -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as excinfo:
        await check_vault(addr, connect_timeout=2)
    _assert_one_line(excinfo.value, "Vault", addr)
    assert "refused" in str(excinfo.value).lower()


async def test_unset_urls_name_the_variable() -> None:
    with pytest.raises(ServiceUnavailable, match="DATABASE_URL is not set"):
        await check_postgres(None)
    with pytest.raises(ServiceUnavailable, match="TEMPORAL_ADDRESS is not set"):
        await check_temporal("")


async def test_reachable_services_pass(settings, redis_url, vault, temporal_dev_server) -> None:
    await check_postgres(settings.database_url)
    await check_redis(redis_url)
    await check_vault(vault.addr)
    await check_temporal(temporal_dev_server.client.service_client.config.target_host)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("127.0.0.1:7233") == "127.0.0.1:7233"
