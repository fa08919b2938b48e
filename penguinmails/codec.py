"""AES-GCM payload codec: every Temporal payload is encrypted before it leaves the process.

The key lives in the secret store (DESIGN rule 1). The key id travels in the payload
metadata so a later key rotation can keep decoding old histories.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
NONCE_BYTES = 12


class CodecKeyMismatch(ValueError):
    """A payload was encrypted with a key this process does not hold."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the codec key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, payload.SerializeToString(), self.key_id)
        return Payload(
            metadata={"encoding": ENCODING, "encryption-key-id": self.key_id},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not ours (e.g. written before encryption was enabled)
        key_id = payload.metadata.get("encryption-key-id", b"")
        if key_id != self.key_id:
            raise CodecKeyMismatch(f"payload encrypted with key {key_id.decode(errors='replace')}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(self._aead.decrypt(nonce, sealed, key_id))


# A codec-only credential: what a Temporal UI without single sign-on puts in its codec
# endpoint's path. It opens `/staff/codec/<token>/{decode,encode}` and nothing else (it is no
# API key: every other route refuses it), so the UI's settings and the command line that
# starts it never carry a staff key. Only its SHA-256 is kept, in the secret store.
CODEC_TOKEN_PREFIX = "pmc_"


def new_codec_token() -> str:
    return CODEC_TOKEN_PREFIX + secrets.token_urlsafe(32)


def codec_token_record(token: str) -> dict[str, str]:
    """What the secret store keeps at CODEC_TOKEN_PATH."""
    return {"sha256": hashlib.sha256(token.encode()).hexdigest()}


def codec_token_matches(record: dict[str, str] | None, token: str) -> bool:
    if record is None or not token.startswith(CODEC_TOKEN_PREFIX):
        return False
    return hmac.compare_digest(record.get("sha256", ""), codec_token_record(token)["sha256"])
