"""Outbound webhooks, the pure part: event types, the signature scheme, retry timing and
which target addresses a delivery may reach.

A delivery is a POST of `{"id", "type", "occurred_at", "data"}` with three headers:
`PenguinMails-Event-Id` (the event's id: the same event delivered twice carries the same
one, so receivers dedupe on it), `PenguinMails-Delivery-Id`, and `PenguinMails-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the endpoint's secret>`. A
receiver recomputes the MAC over the raw body and refuses a timestamp older than a few
minutes (`verify_signature` is the reference implementation, used by the tests).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta

EVENT_TYPES = (
    "sent",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
    "complained",
    "campaign.status_changed",
    "lead.finished",
)
TEST_EVENT = "test"  # sent on demand to one endpoint, whatever it subscribes to

SIGNATURE_HEADER = "PenguinMails-Signature"
EVENT_ID_HEADER = "PenguinMails-Event-Id"
DELIVERY_ID_HEADER = "PenguinMails-Delivery-Id"
SECRET_PREFIX = "whsec_"

# Retries: 30 s doubling to at most 6 h between attempts, for up to 3 days after the event;
# an endpoint failing without a success for a day is disabled (its pending deliveries fail).
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)
DISABLE_AFTER = timedelta(days=1)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300
) -> bool:
    """What a receiver does: the MAC over the raw body, in constant time, and a fresh
    timestamp."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to try again after `attempts` failed attempts (1 after the first)."""
    delay: timedelta = min(FIRST_RETRY * (2 ** max(0, min(attempts, 20) - 1)), MAX_RETRY)
    return now + delay


def refused_address(address: str) -> str | None:
    """Why a delivery must not reach `address` (SSRF), or None: private, loopback,
    link-local, multicast, reserved and unspecified ranges are refused outside development,
    IPv4-mapped IPv6 judged as the IPv4 address it carries."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, reason in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_private, "private"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_unspecified, "unspecified"),
    ):
        if flag:
            return f"{address} is a {reason} address"
    return None
