from hypothesis import example, given
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


HEXISH = st.text(alphabet="0123456789abcdefAF_g", min_size=11, max_size=13)


@given(
    st.text(max_size=80),
    st.sampled_from(["pm", "xx", "pm_"]),
    st.one_of(HEXISH, st.text(max_size=14)),
)
@example("s3cret", "pm", "0123456789ab")
@example("", "pm", "0123456789ab")
@example("s", "pm", "0123456789aB")
def test_a_prefix_only_for_the_key_shape(secret: str, scheme: str, prefix: str) -> None:
    """Tokens built around the key's shape (scheme, 12 lower-case hex, non-empty secret)
    yield their prefix exactly when every part is right; nothing else does."""
    token = f"{scheme}_{prefix}_{secret}"
    well_formed = (
        scheme == "pm"
        and len(prefix) == 12
        and all(c in "0123456789abcdef" for c in prefix)
        and secret != ""
    )
    assert key_prefix(token) == (prefix if well_formed else None)


@given(st.text(max_size=80))
def test_other_text_has_no_prefix_unless_shaped_like_a_key(token: str) -> None:
    prefix = key_prefix(token)
    assert prefix is None or token.startswith(f"pm_{prefix}_")


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
