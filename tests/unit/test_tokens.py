import os

import pytest

from penguinmails import tokens
from penguinmails.tokens import InvalidToken, TokenClaims, TokenKind

KEY = os.urandom(32)
MID = "<abc.123@mail.example.com>"


def test_round_trip_of_each_kind() -> None:
    for kind, url in (
        (TokenKind.OPEN, None),
        (TokenKind.UNSUBSCRIBE, None),
        (TokenKind.CLICK, "https://example.com/a?b=1&c=%20d#frag"),
    ):
        claims = TokenClaims("t-1", MID, kind, url)
        token = tokens.sign(KEY, claims)
        assert tokens.verify(KEY, token, kind) == claims
        # URL-safe: goes into a path segment as is.
        assert all(c.isalnum() or c in "-_." for c in token)


def test_forged_or_altered_tokens_are_rejected() -> None:
    token = tokens.sign(KEY, TokenClaims("t-1", MID, TokenKind.CLICK, "https://good.example/"))
    payload, mac = token.split(".")
    with pytest.raises(InvalidToken):
        tokens.verify(os.urandom(32), token)
    # Same signature, other claims (another target URL, another tenant).
    other = tokens.sign(KEY, TokenClaims("t-2", MID, TokenKind.CLICK, "https://evil.example/"))
    with pytest.raises(InvalidToken):
        tokens.verify(KEY, other.split(".")[0] + "." + mac)
    for bad in ("", ".", "abc", payload, f"{payload}.", f".{mac}", "!!!.???", token + "x"):
        with pytest.raises(InvalidToken):
            tokens.verify(KEY, bad)


def test_kind_is_enforced() -> None:
    token = tokens.sign(KEY, TokenClaims("t-1", MID, TokenKind.OPEN))
    with pytest.raises(InvalidToken):
        tokens.verify(KEY, token, TokenKind.UNSUBSCRIBE)


def test_click_tokens_need_a_url_and_others_have_none() -> None:
    with pytest.raises(ValueError):
        tokens.sign(KEY, TokenClaims("t", MID, TokenKind.CLICK))
    with pytest.raises(ValueError):
        tokens.sign(KEY, TokenClaims("t", MID, TokenKind.OPEN, "https://x.example/"))
    with pytest.raises(ValueError):
        tokens.sign(b"short", TokenClaims("t", MID, TokenKind.OPEN))


async def test_the_key_lives_in_the_secret_store(secret_store, settings) -> None:
    key = await tokens.tracking_key(secret_store, settings)
    assert len(key) == 32 and key == await tokens.tracking_key(secret_store, settings)
    assert (await secret_store.read(settings.tracking_key_path)) is not None


def _signed(key: bytes, payload: bytes) -> str:
    """A token signed with `key` over any payload (what only the key's holder can make)."""
    part = tokens._b64(payload)
    return f"{part}.{tokens._b64(tokens._mac(key, part))}"


def test_the_mac_is_checked_before_the_payload_is_decoded() -> None:
    # 1,500 nested arrays under a well-formed MAC part: refused without being parsed (the
    # JSON parser would raise RecursionError, not InvalidToken); 3,000 are over the length.
    nested = tokens._b64(b"[" * 1500 + b"]" * 1500)
    deeper = tokens._b64(b"[" * 3000 + b"]" * 3000)
    mac = tokens.sign(KEY, TokenClaims("t-1", MID, TokenKind.OPEN)).split(".")[1]
    with pytest.raises(InvalidToken, match="bad signature"):
        tokens.verify(KEY, f"{nested}.{mac}")
    # Oversized, or not of the token's alphabet: refused before any MAC is computed.
    too_long = "a" * (tokens.MAX_TOKEN_CHARS - 43) + "." + mac
    for bad in (too_long, f"{deeper}.{mac}", "a+b." + mac, f"{nested}.{mac}=="):
        with pytest.raises(InvalidToken, match="malformed"):
            tokens.verify(KEY, bad)


def test_a_signed_token_of_an_unexpected_shape_is_invalid() -> None:
    for payload in (
        b"[" * 3000 + b"]" * 3000,
        b"[]",
        b"not json",
        b"\xff\xfe",
        b'{"t":"a","m":"b"}',
        b'{"t":1,"m":"b","k":"o"}',
        b'{"t":"a","m":"b","k":"x"}',
        b'{"t":"a","m":"b","k":"c","u":["x"]}',
    ):
        with pytest.raises(InvalidToken):
            tokens.verify(KEY, _signed(KEY, payload))
    claims = tokens.verify(KEY, _signed(KEY, b'{"t":"a","m":"b","k":"o"}'))
    assert claims == TokenClaims("a", "b", TokenKind.OPEN)


def test_another_spelling_of_the_mac_is_refused() -> None:
    token = tokens.sign(KEY, TokenClaims("t-1", MID, TokenKind.OPEN))
    payload, mac = token.split(".")
    # The last character carries 2 padding bits: a variant decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(mac[-1])
    variant = mac[:-1] + alphabet[index ^ 1]
    assert tokens._unb64(variant) == tokens._unb64(mac)
    with pytest.raises(InvalidToken):
        tokens.verify(KEY, f"{payload}.{variant}")
