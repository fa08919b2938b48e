import os

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from penguinmails.codec import ENCODING, CodecKeyMismatch, EncryptionCodec
from penguinmails.temporal import data_converter


async def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    codec = EncryptionCodec(os.urandom(32))
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert b"ada@example.com" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == original


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec(os.urandom(32))
    p = Payload(metadata={"encoding": b"json/plain"}, data=b"same")
    a, b = await codec.encode([p, p])
    assert a.data != b.data


async def test_wrong_key_is_refused_and_tampering_detected() -> None:
    codec = EncryptionCodec(os.urandom(32))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"x")])
    with pytest.raises(CodecKeyMismatch):
        await EncryptionCodec(os.urandom(32)).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([tampered])


async def test_unencrypted_payloads_pass_through() -> None:
    codec = EncryptionCodec(os.urandom(32))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert await codec.decode([plain]) == [plain]


async def test_data_converter_encrypts_dataclasses() -> None:
    from activities.interfaces.tenancy import ProvisionTenantInput

    converter = data_converter(os.urandom(32))
    value = ProvisionTenantInput(tenant_id="t", owner_user_id="u")
    payloads = await converter.encode([value])
    assert payloads[0].metadata["encoding"] == ENCODING
    [back] = await converter.decode(payloads, [ProvisionTenantInput])
    assert back == value


def test_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError):
        EncryptionCodec(b"short")
