from hypothesis import given
from hypothesis import strategies as st

from penguinmails.security import generate_key, hash_key, key_prefix, verify_key


def test_generated_key_verifies_and_carries_its_prefix() -> None:
    key = generate_key()
    assert key_prefix(key.plaintext) == key.prefix
    assert verify_key(key.plaintext, key.key_hash)
    assert key.key_hash == hash_key(key.plaintext)
    assert key.plaintext not in key.key_hash


def test_keys_are_unique_and_a_changed_key_fails() -> None:
    a, b = generate_key(), generate_key()
    assert a.plaintext != b.plaintext and a.prefix != b.prefix
    assert not verify_key(a.plaintext + "x", a.key_hash)
    assert not verify_key(b.plaintext, a.key_hash)


@given(st.text(max_size=80))
def test_malformed_tokens_have_no_prefix(token: str) -> None:
    prefix = key_prefix(token)
    if prefix is not None:
        assert token.startswith(f"pm_{prefix}_")
        assert len(prefix) == 12


def test_known_malformed_tokens() -> None:
    for token in (
        "",
        "pm_",
        "pm_abc_def",
        "xx_0123456789ab_secret",
        "pm_0123456789ab_",
        "pm_0123456789AB_s",
    ):
        assert key_prefix(token) is None
