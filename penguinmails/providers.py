"""The VPS provider interface: what the lifecycle activities ask of a provider of sending
servers. Implementations (`local`, `hostwinds`) live with the activities; the kernel keeps
only the protocol, its value types and its errors.

Errors carry their retry decision: `ProviderUnavailable` (timeouts, 5xx, connection
refused) is worth retrying with backoff; `ProviderRejected` (4xx, a refusal in the
provider's own words) is not, and the workflow records it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

# Instance statuses the provider reports, mapped to these three.
PENDING, ACTIVE, GONE = "pending", "active", "gone"


class ProviderError(Exception):
    """A provider call failed."""


class ProviderUnavailable(ProviderError):
    """Timeout, 5xx or no connection: retry with backoff."""


class ProviderRejected(ProviderError):
    """The provider refused the request (4xx or an error answer): retrying will not help."""


@dataclass(frozen=True)
class ProviderInstance:
    instance_id: str
    status: str  # PENDING, ACTIVE or GONE
    ips: list[str] = field(default_factory=list)
    created: dt.datetime | None = None  # the provider bills from this day of the month
    monthly_cost: Decimal | None = None


class VpsProvider(Protocol):
    name: str

    async def create(self, region: str, hostname: str) -> ProviderInstance:
        """Order a server; it is PENDING until the provider has built it."""

    async def status(self, instance_id: str) -> ProviderInstance: ...

    async def list_ips(self, instance_id: str) -> list[str]: ...

    async def set_reverse_dns(self, instance_id: str, ip: str, name: str) -> None: ...

    async def cancel(self, instance_id: str, *, at_period_end: bool = True) -> None:
        """Cancel the server: at the end of the paid period, or now (a failed provisioning
        cancels at once). Cancelling a cancelled or unknown server is not an error."""


def billing_period(billing_day: int, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The paid period holding `at`: from the billing day of one month to the billing day
    of the next, the day clamped to each month's length (31 -> 28 Feb, 30 Apr), at
    00:00 UTC."""
    if not 1 <= billing_day <= 31:
        raise ValueError(f"billing_day must be 1-31, got {billing_day}")

    def anchor(year: int, month: int) -> dt.datetime:
        day = min(billing_day, calendar.monthrange(year, month)[1])
        return dt.datetime(year, month, day, tzinfo=dt.UTC)

    def shift(year: int, month: int, by: int) -> tuple[int, int]:
        index = year * 12 + (month - 1) + by
        return index // 12, index % 12 + 1

    at = at.astimezone(dt.UTC)
    start = anchor(at.year, at.month)
    if start > at:
        start = anchor(*shift(at.year, at.month, -1))
    end = anchor(*shift(start.year, start.month, 1))
    return start, end


__all__ = [
    "ACTIVE",
    "GONE",
    "PENDING",
    "ProviderError",
    "ProviderInstance",
    "ProviderRejected",
    "ProviderUnavailable",
    "VpsProvider",
    "billing_period",
]
