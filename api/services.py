"""What one API process holds for its lifetime (built in the lifespan, or injected by tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client

from api.keycache import KeyCache
from api.ratelimit import RateLimiter
from penguinmails.codec import EncryptionCodec
from penguinmails.db import Database
from penguinmails.platform_config import PlatformConfig
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis
    temporal: Client
    codec: EncryptionCodec
    limiter: RateLimiter
    # Vault: DKIM keys and mailbox credentials are written through it.
    secrets: SecretStore | None = None
    # Verified API keys, for `api_key_cache_seconds` (api/keycache.py).
    keys: KeyCache[Any] = field(default=None)  # type: ignore[arg-type]
    # Feature flags and system configuration, cached 10 s (penguinmails/platform_config.py).
    platform: PlatformConfig = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.keys is None:
            self.keys = KeyCache(self.settings.api_key_cache_seconds)
        if self.platform is None:
            self.platform = PlatformConfig(self.db, self.settings)

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.aclose()
