"""The providers a worker serves, built once at start (secrets resolved then, never at
import): `local` always, `hostwinds` when its API URL is configured."""

from __future__ import annotations

from activities.providers.hostwinds import HostwindsProvider
from activities.providers.local import LocalProvider
from penguinmails.providers import VpsProvider
from penguinmails.secrets import SecretStore, SecretStoreError
from penguinmails.settings import Settings

API_KEY_FIELD = "api_key"


class ProviderNotConfigured(Exception):
    pass


async def load_providers(settings: Settings, store: SecretStore | None) -> dict[str, VpsProvider]:
    providers: dict[str, VpsProvider] = {
        "local": LocalProvider(
            settings.local_provider_state,
            activate_after_seconds=settings.local_provider_activate_after_seconds,
        )
    }
    if settings.hostwinds_api_url:
        if store is None:
            raise ProviderNotConfigured("hostwinds needs the secret store for its API key")
        secret = await store.read(settings.hostwinds_key_path)
        if not secret or not secret.get(API_KEY_FIELD):
            raise SecretStoreError(
                f"no {API_KEY_FIELD} at {settings.hostwinds_key_path} for the hostwinds provider"
            )
        providers["hostwinds"] = HostwindsProvider(
            secret[API_KEY_FIELD],
            base_url=settings.hostwinds_api_url,
            template=settings.hostwinds_template,
            plan_rid=settings.hostwinds_plan_rid,
        )
    return providers


__all__ = ["API_KEY_FIELD", "ProviderNotConfigured", "load_providers"]
