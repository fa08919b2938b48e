"""What one API process holds for its lifetime (built in the lifespan, or injected by tests)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from temporalio.client import Client

from api.ratelimit import RateLimiter
from penguinmails.codec import EncryptionCodec
from penguinmails.db import Database
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

    async def close(self) -> None:
        await self.db.dispose()
        await self.redis.aclose()
