"""API-key format, hashing and constant-time verification.

A key reads `pm_<prefix>_<secret>`: the prefix (public, unique) finds the row, the secret is
256 bits of randomness, so a plain SHA-256 is enough to store it (no slow KDF needed for a
random secret) and `hmac.compare_digest` compares it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "pm"
PREFIX_BYTES = 6  # 12 hex characters


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_BYTES)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


_HEX = frozenset("0123456789abcdef")


def key_prefix(plaintext: str) -> str | None:
    """The prefix of a well-formed key, None for anything else."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 2 * PREFIX_BYTES:
        return None
    if not _HEX.issuperset(parts[1]) or not parts[2]:
        return None
    return parts[1]


def verify_key(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), stored_hash)
