"""Verified API keys, remembered for a few seconds per API process.

An entry holds the key's SHA-256 (never the key) and what authenticating it gave; it is
trusted for `api_key_cache_seconds` (at most 5 s), so a key revoked through any process
stops working on every other within that time without a database round trip per request.
The process that revokes a key, removes a member or changes roles forgets the entries at
once.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from penguinmails.security import hash_key

P = TypeVar("P")
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry(Generic[P]):
    key_hash: str
    principal: P
    api_key_id: UUID
    user_id: UUID
    expires: float


class KeyCache(Generic[P]):
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, _Entry[P]] = {}

    def get(self, prefix: str, token: str) -> P | None:
        entry = self._entries.get(prefix)
        if entry is None:
            return None
        if entry.expires <= self.clock():
            self._entries.pop(prefix, None)
            return None
        if not hmac.compare_digest(hash_key(token), entry.key_hash):
            return None
        return entry.principal

    def put(
        self, prefix: str, key_hash: str, principal: P, api_key_id: UUID, user_id: UUID
    ) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[prefix] = _Entry(
            key_hash, principal, api_key_id, user_id, self.clock() + self.ttl
        )

    def forget_key(self, api_key_id: UUID) -> None:
        for prefix in [p for p, e in self._entries.items() if e.api_key_id == api_key_id]:
            self._entries.pop(prefix, None)

    def forget_tenant(self, tenant_id: UUID) -> None:
        """Every key of the tenant (a suspension): the principal names its tenant."""
        for prefix in [
            p
            for p, e in self._entries.items()
            if getattr(e.principal, "tenant_id", None) == tenant_id
        ]:
            self._entries.pop(prefix, None)

    def forget_user(self, user_id: UUID) -> None:
        for prefix in [p for p, e in self._entries.items() if e.user_id == user_id]:
            self._entries.pop(prefix, None)
