"""Tracking and unsubscribe tokens (DESIGN "Tokens"): HMAC-SHA256 signed, verified in
constant time before anything in them is decoded.

A token is `base64url(claims) "." base64url(mac)`, the MAC taken over the first part's
ASCII text as it travels (with the version in front). The claims carry the tenant, the
outbound Message-ID (unique in the outbox), the kind and, for clicks, the target URL, so
the public endpoints (`/t/o/`, `/t/c/`, `/u/`) need nothing else to act. No personal data
goes into a token. The key (32 bytes) lives in the secret store at `TRACKING_KEY_PATH`.

These endpoints are public: whatever an anonymous caller sends is bounded in length and
checked against the MAC first, so a forged token never reaches the base64 or JSON decoders
(a payload of thousands of nested arrays is refused as cheaply as any other forgery).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from penguinmails.secrets import SecretStore
    from penguinmails.settings import Settings

VERSION = "2"  # 1 signed the decoded claims, so a token had to be parsed to be checked
# Bounds a click token with a long target URL (URLs over 2,000 characters break in clients).
MAX_TOKEN_CHARS = 4096
_MAC_CHARS = 43  # base64url of 32 bytes, unpadded
_TOKEN = re.compile(rf"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{{{_MAC_CHARS}}})$")


class TokenKind(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


class InvalidToken(Exception):
    """Malformed, forged, or of another kind than expected."""


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: str
    message_id: str
    kind: TokenKind
    url: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None


def _mac(key: bytes, payload_part: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{payload_part}".encode("ascii"), hashlib.sha256).digest()


def sign(key: bytes, claims: TokenClaims) -> str:
    if len(key) < 32:
        raise ValueError("the token key must be at least 32 bytes")
    if (claims.kind is TokenKind.CLICK) != bool(claims.url):
        raise ValueError("a click token needs a URL, and only a click token has one")
    body: dict[str, str] = {"t": claims.tenant_id, "m": claims.message_id, "k": claims.kind.value}
    if claims.url:
        body["u"] = claims.url
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    token = f"{payload}.{_b64(_mac(key, payload))}"
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(f"the token would be longer than {MAX_TOKEN_CHARS} characters")
    return token


def verify(key: bytes, token: str, kind: TokenKind | None = None) -> TokenClaims:
    """The claims of a genuine token (of `kind` when given); InvalidToken otherwise."""
    # Shape and length first (no decoding), then the MAC over the raw text, then the claims.
    match = _TOKEN.match(token) if len(token) <= MAX_TOKEN_CHARS else None
    if match is None:
        raise InvalidToken("malformed token")
    payload_part, mac_part = match.groups()
    # Compared as text, so no other spelling of the same MAC bytes is accepted.
    if not hmac.compare_digest(_b64(_mac(key, payload_part)).encode(), mac_part.encode()):
        raise InvalidToken("bad signature")
    # Signed by us: still checked, so a token of another shape is an error, never a crash.
    try:
        body = json.loads(_unb64(payload_part))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidToken("malformed token") from None
    if not isinstance(body, dict):
        raise InvalidToken("malformed token")
    tenant_id, message_id, kind_value, url = (body.get(k) for k in ("t", "m", "k", "u"))
    if not (
        isinstance(tenant_id, str)
        and isinstance(message_id, str)
        and isinstance(kind_value, str)
        and isinstance(url, str | None)
    ):
        raise InvalidToken("malformed token")
    try:
        claims = TokenClaims(tenant_id, message_id, TokenKind(kind_value), url)
    except ValueError:
        raise InvalidToken("malformed token") from None
    if kind is not None and claims.kind is not kind:
        raise InvalidToken("token of another kind")
    return claims


async def tracking_key(store: SecretStore, settings: Settings) -> bytes:
    """The HMAC key of the tokens, created in the secret store on first use (32 bytes)."""
    return await store.get_or_create_codec_key(settings.tracking_key_path)


__all__ = [
    "MAX_TOKEN_CHARS",
    "InvalidToken",
    "TokenClaims",
    "TokenKind",
    "sign",
    "tracking_key",
    "verify",
]
