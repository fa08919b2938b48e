"""What the API and the worker both do at start: reach the secret store for the codec key and
connect to Temporal with the encrypting data converter."""

from __future__ import annotations

from temporalio.client import Client

from penguinmails import temporal
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings


def secret_store(settings: Settings) -> SecretStore:
    if not settings.vault_addr or settings.vault_token is None:
        raise RuntimeError("VAULT_ADDR and VAULT_TOKEN must be set (the dev stack sets them)")
    return SecretStore(
        settings.vault_addr, settings.vault_token.get_secret_value(), settings.vault_mount
    )


async def temporal_client(settings: Settings, store: SecretStore) -> Client:
    key = await store.get_or_create_codec_key(settings.codec_key_path)
    return await temporal.connect(settings, key)
