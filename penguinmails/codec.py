"""AES-GCM payload codec: every Temporal payload is encrypted before it leaves the process.

The key lives in the secret store (DESIGN rule 1). The key id travels in the payload
metadata so a later key rotation can keep decoding old histories.
"""

from __future__ import annotations

import hashlib
import os
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
