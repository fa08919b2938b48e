import asyncio
import base64
import logging
from uuid import uuid4

import pytest

from devstack.ports import free_port
from penguinmails.secrets import SecretStore, SecretStoreUnavailable


def _path() -> str:
    return f"tests/{uuid4().hex}"


async def test_write_read_delete(secret_store: SecretStore) -> None:
    path = _path()
    assert await secret_store.read(path) is None
    await secret_store.write(path, {"username": "mailer", "password": "s3cret"})
    assert await secret_store.read(path) == {"username": "mailer", "password": "s3cret"}
    await secret_store.write(path, {"password": "rotated"})
    assert await secret_store.read(path) == {"password": "rotated"}
    await secret_store.delete(path)
    assert await secret_store.read(path) is None
    await secret_store.delete(path)  # deleting twice is fine


async def test_codec_key_is_created_once_and_stable(secret_store: SecretStore) -> None:
    path = _path()
    first = await secret_store.get_or_create_codec_key(path)
    assert len(first) == 32
    assert await secret_store.get_or_create_codec_key(path) == first
    stored = await secret_store.read(path)
    assert stored is not None and base64.b64decode(stored["key"]) == first


async def test_concurrent_first_calls_converge_on_one_key(vault, caplog) -> None:
    caplog.set_level(logging.INFO, logger="penguinmails.secrets")
    path = _path()
    # Separate stores, as separate processes would have.
    stores = [SecretStore(vault.addr, vault.token) for _ in range(8)]
    keys = await asyncio.gather(*(s.get_or_create_codec_key(path) for s in stores))
    assert len(set(keys)) == 1
    assert len(keys[0]) == 32
    created = [r for r in caplog.records if "created the payload codec key" in r.getMessage()]
    assert len(created) == 1  # the others lost the check-and-set and read the winner's key


async def test_ping(secret_store: SecretStore) -> None:
    await secret_store.ping()


async def test_unreachable_address_is_one_clear_error() -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    store = SecretStore(addr, "token")
    with pytest.raises(SecretStoreUnavailable) as excinfo:
        await store.read("anything")
    message = str(excinfo.value)
    assert addr in message
    assert "\n" not in message
    with pytest.raises(SecretStoreUnavailable):
        await store.ping()


async def test_bad_token_is_reported_without_the_token(vault) -> None:
    store = SecretStore(vault.addr, "not-the-token")
    with pytest.raises(SecretStoreUnavailable) as excinfo:
        await store.ping()
    assert vault.addr in str(excinfo.value)
    assert "not-the-token" not in str(excinfo.value)
    assert "not-the-token" not in repr(store)
