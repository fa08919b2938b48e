"""DKIM keys and signatures (RFC 6376) through `dkimpy`.

A domain's key pair is 2048-bit RSA. The private key (PKCS#1 PEM) goes to the secret store
only; its public half is published as `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>` in a
TXT record at `{selector}._domainkey.{domain}`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048

# The headers every signature covers (asserted by the tests), then those signed when
# present. `From` is signed twice ("oversigned") so a second From cannot be added later.
REQUIRED_SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
OPTIONAL_SIGNED_HEADERS = (
    "Reply-To",
    "Cc",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Feedback-ID",
)


@dataclass(frozen=True)
class DkimKeyPair:
    private_pem: str
    public_b64: str  # base64 DER SubjectPublicKeyInfo, the record's p=

    def __repr__(self) -> str:  # never print the private key
        return f"DkimKeyPair(public_b64={self.public_b64[:16]}...)"


def generate_key_pair(bits: int = KEY_BITS) -> DkimKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKeyPair(private_pem, base64.b64encode(public_der).decode("ascii"))


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def record_value(public_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_b64}"


def sign(
    message: bytes,
    *,
    domain: str,
    selector: str,
    private_pem: str,
    headers: Sequence[str] | None = None,
) -> bytes:
    """The `DKIM-Signature:` header line(s) for `message` (CRLF line ends), relaxed/relaxed,
    rsa-sha256, covering the required headers and every optional one present; or exactly
    `headers`, which must all be present (mail other than a campaign's, such as warmup
    messages, has no unsubscribe headers to require)."""
    present = {
        line.split(b":", 1)[0].strip().lower()
        for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    }
    required: Sequence[str] = REQUIRED_SIGNED_HEADERS if headers is None else headers
    if headers is None:
        headers = [*REQUIRED_SIGNED_HEADERS, "From"] + [
            h for h in OPTIONAL_SIGNED_HEADERS if h.lower().encode() in present
        ]
    missing = [h for h in required if h.lower().encode() not in present]
    if missing:
        raise ValueError(f"cannot sign: the message has no {', '.join(missing)} header")
    signature: bytes = dkim.sign(
        message,
        selector.encode("ascii"),
        domain.encode("ascii"),
        private_pem.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h.lower().encode("ascii") for h in headers],
        linesep=b"\r\n",
    )
    return signature


def verify(message: bytes, dnsfunc: Callable[..., bytes]) -> bool:
    """Whether the first DKIM signature of `message` verifies against the key `dnsfunc`
    returns for its `s=`/`d=` (`dnsfunc(name, timeout=...) -> TXT bytes`)."""
    return bool(dkim.verify(message, dnsfunc=dnsfunc))


def signed_headers(message: bytes) -> list[str]:
    """The `h=` list of the first DKIM-Signature header, lower-cased."""
    d = dkim.DKIM(message)
    for name, value in d.headers:
        if name.lower() == b"dkim-signature":
            tags = dkim.util.parse_tag_value(value)
            return [h.strip().decode().lower() for h in tags[b"h"].split(b":")]
    return []


__all__ = [
    "KEY_BITS",
    "OPTIONAL_SIGNED_HEADERS",
    "REQUIRED_SIGNED_HEADERS",
    "DkimKeyPair",
    "generate_key_pair",
    "record_name",
    "record_value",
    "sign",
    "signed_headers",
    "verify",
]
