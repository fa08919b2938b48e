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
