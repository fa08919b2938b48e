"""The next sending slot: when, at or after a given instant, a message may go out.

A sending window is wall-clock time in a zone (the lead's, or the campaign's when the lead
has none): allowed ISO weekdays, a start and an end time, and holidays (local dates).
DESIGN rule 12: this runs in an activity, never in workflow code, because time-zone data can
change between two replays of a workflow; it is a pure function so that it can be tested
across both daylight-saving transitions.

Daylight saving, decided here:
- A window edge that falls in the hour skipped in spring (02:30 on a night that jumps from
  02:00 to 03:00) moves to the first instant that exists after it, the jump itself (03:00).
- An hour that occurs twice in autumn is inside a window that covers it both times: the
  window's start takes the first occurrence, its end the second, so a window 01:00-02:00 on
  that night lasts two real hours. Sends are paced by the mailbox's gap, not by the window's
  length, so a longer window never means a burst.
- A window whose end is not after its start (22:00-02:00) runs overnight into the next
  local day; its day and holiday checks apply to the day it starts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Far enough for any mix of days and holidays a campaign can express (holidays are finite).
SEARCH_DAYS = 3 * 366


class InvalidWindow(ValueError):
    """A window that can never open (no days, start equal to end, every day a holiday)."""


@dataclass(frozen=True)
class SendingWindow:
    start: time
    end: time
    days: frozenset[int] = field(default_factory=lambda: frozenset({1, 2, 3, 4, 5}))
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidWindow("the window's start and end are equal: it never opens")
        if not self.days or any(d < 1 or d > 7 for d in self.days):
            raise InvalidWindow("days are ISO weekdays 1 (Monday) to 7 (Sunday), at least one")

    @property
    def overnight(self) -> bool:
        return self.end < self.start


@dataclass(frozen=True)
class Slot:
    """The instant a send may start (UTC) and the end of the window it opens in (UTC)."""

    at: datetime
    window_end: datetime
    zone: str


def zone_or(name: str | None, fallback: str) -> tuple[ZoneInfo, bool]:
    """The lead's zone when it is an IANA name, else the fallback; True when it fell back."""
    if name:
        try:
            return ZoneInfo(name), False
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            pass
    return ZoneInfo(fallback), bool(name)


def wall_to_utc(day: date, at: time, zone: ZoneInfo, *, later: bool = False) -> datetime:
    """The instant the wall clock of `zone` reads `day at`.

    A wall time that does not exist (the skipped spring hour) gives the first instant after
    it. A wall time that exists twice gives the first occurrence, or the second with `later`.
    """
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _wall(first, zone) == naive and _wall(second, zone) == naive:
        return second if later else first  # ambiguous when they differ, plain when equal
    if _wall(first, zone) == naive:
        return first
    if _wall(second, zone) == naive:
        return second
    # Skipped: `second` (the offset from after the jump, read back) lies before the jump and
    # `first` after it. The jump is the earliest instant whose wall time is not before `naive`.
    low, high = min(first, second), max(first, second)
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if _wall(mid, zone) >= naive:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def next_slot(window: SendingWindow, now: datetime, zone: ZoneInfo) -> Slot:
    """The earliest instant at or after `now` inside the window, with that window's end."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_today = now.astimezone(zone).date()
    # Start one day back: an overnight window opened yesterday may still be open now.
    for offset in range(-1, SEARCH_DAYS):
        day = local_today + timedelta(days=offset)
        if day.isoweekday() not in window.days or day in window.holidays:
            continue
        opens = wall_to_utc(day, window.start, zone)
        end_day = day + timedelta(days=1) if window.overnight else day
        closes = wall_to_utc(end_day, window.end, zone, later=True)
        if closes <= opens:  # a window swallowed by a skipped hour
            continue
        if now < closes:
            return Slot(at=max(now, opens), window_end=closes, zone=zone.key)
    raise InvalidWindow("the window never opens in the next three years (days and holidays)")


DEFAULT_WINDOW: dict[str, Any] = {"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5]}


def window_from_config(configuration: Mapping[str, Any]) -> SendingWindow:
    """A campaign's window from its `configuration["sending_window"]` (`start`, `end` as
    HH:MM, `days` as ISO weekdays, `holidays` as ISO dates); business hours, Monday to
    Friday, when it has none. Raises InvalidWindow on a value that cannot be read."""
    raw = configuration.get("sending_window") or DEFAULT_WINDOW
    try:
        return SendingWindow(
            start=time.fromisoformat(str(raw.get("start", DEFAULT_WINDOW["start"]))),
            end=time.fromisoformat(str(raw.get("end", DEFAULT_WINDOW["end"]))),
            days=frozenset(int(d) for d in raw.get("days", DEFAULT_WINDOW["days"])),
            holidays=frozenset(date.fromisoformat(str(h)) for h in raw.get("holidays", [])),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, InvalidWindow):
            raise
        raise InvalidWindow(f"unreadable sending window: {exc}") from None
