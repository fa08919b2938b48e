"""Tracking and unsubscribe tokens (DESIGN "Tokens"): HMAC-SHA256 signed over (tenant,
message, kind, target URL for clicks), verified in constant time.

A token is `base64url(claims) "." base64url(mac)`. The claims carry the tenant, the
outbound Message-ID (unique in the outbox), the kind and, for clicks, the target URL, so
the public endpoints (`/t/o/`, `/t/c/`, `/u/`) need nothing else to act. No personal data
goes into a token. The key (32 bytes) lives in the secret store at `TRACKING_KEY_PATH`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from penguinmails.secrets import SecretStore
    from penguinmails.settings import Settings

VERSION = "1"
_SEP = b"\x1f"  # a byte that cannot occur in ids, kinds or URLs


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


def _mac(key: bytes, claims: TokenClaims) -> bytes:
    signed = _SEP.join(
        part.encode("utf-8")
        for part in (
            VERSION,
            claims.tenant_id,
            claims.message_id,
            claims.kind.value,
            claims.url or "",
        )
    )
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(key: bytes, claims: TokenClaims) -> str:
    if len(key) < 32:
        raise ValueError("the token key must be at least 32 bytes")
    if (claims.kind is TokenKind.CLICK) != bool(claims.url):
        raise ValueError("a click token needs a URL, and only a click token has one")
    body: dict[str, str] = {
        "v": VERSION,
        "t": claims.tenant_id,
        "m": claims.message_id,
        "k": claims.kind.value,
    }
    if claims.url:
        body["u"] = claims.url
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(key, claims))}"


def verify(key: bytes, token: str, kind: TokenKind | None = None) -> TokenClaims:
    """The claims of a genuine token (of `kind` when given); InvalidToken otherwise."""
    payload_part, dot, mac_part = token.partition(".")
    if not dot or not payload_part or not mac_part or len(token) > 8192:
        raise InvalidToken("malformed token")
    try:
        body = json.loads(_unb64(payload_part))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidToken("malformed token") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise InvalidToken("unknown token version")
    try:
        claims = TokenClaims(
            tenant_id=str(body["t"]),
            message_id=str(body["m"]),
            kind=TokenKind(body["k"]),
            url=str(body["u"]) if "u" in body else None,
        )
    except (KeyError, ValueError):
        raise InvalidToken("malformed token") from None
    # Compare before looking at the kind, so every forged token costs the same.
    if not hmac.compare_digest(_mac(key, claims), _unb64(mac_part)):
        raise InvalidToken("bad signature")
    if kind is not None and claims.kind is not kind:
        raise InvalidToken("token of another kind")
    return claims


async def tracking_key(store: SecretStore, settings: Settings) -> bytes:
    """The HMAC key of the tokens, created in the secret store on first use (32 bytes)."""
    return await store.get_or_create_codec_key(settings.tracking_key_path)


__all__ = ["InvalidToken", "TokenClaims", "TokenKind", "sign", "tracking_key", "verify"]
