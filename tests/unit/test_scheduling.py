"""The next sending slot (`penguinmails.scheduling`), across both daylight-saving transitions
in three zones (two northern, one southern), overnight windows, days and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from penguinmails.scheduling import (
    InvalidWindow,
    SendingWindow,
    next_slot,
    wall_to_utc,
    zone_or,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
EVERY_DAY = frozenset(range(1, 8))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def window(start: str, end: str, days: frozenset[int] = EVERY_DAY, **kw: object) -> SendingWindow:
    return SendingWindow(time.fromisoformat(start), time.fromisoformat(end), days, **kw)  # type: ignore[arg-type]


# -- plain days ------------------------------------------------------------------------------


def test_inside_the_window_is_now() -> None:
    now = utc(2026, 6, 10, 14, 0)  # 10:00 in New York (EDT, -4)
    slot = next_slot(window("09:00", "17:00"), now, NY)
    assert slot.at == now and slot.window_end == utc(2026, 6, 10, 21, 0)


def test_before_the_window_waits_for_its_start() -> None:
    slot = next_slot(window("09:00", "17:00"), utc(2026, 6, 10, 11, 0), NY)  # 07:00 local
    assert slot.at == utc(2026, 6, 10, 13, 0)


def test_after_the_window_goes_to_the_next_allowed_day() -> None:
    # Friday 2026-06-12 18:00 local -> Monday 2026-06-15 09:00 (weekdays only).
    slot = next_slot(window("09:00", "17:00", frozenset({1, 2, 3, 4, 5})), utc(2026, 6, 12, 22), NY)
    assert slot.at == utc(2026, 6, 15, 13, 0)


def test_the_window_end_is_exclusive() -> None:
    slot = next_slot(window("09:00", "17:00"), utc(2026, 6, 10, 21, 0), NY)  # 17:00 sharp
    assert slot.at == utc(2026, 6, 11, 13, 0)


def test_holidays_are_skipped_as_local_dates() -> None:
    w = window("09:00", "17:00", holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    # Christmas Friday and the Monday after are holidays; the weekend is allowed here.
    slot = next_slot(w, utc(2026, 12, 24, 23, 0), NY)  # Thursday 18:00 local
    assert slot.at == utc(2026, 12, 26, 14, 0)  # Saturday 09:00 EST


def test_the_lead_zone_decides_the_day() -> None:
    # 23:30 UTC on Sunday is Monday 09:30 in Sydney but Sunday evening in New York.
    now = utc(2026, 6, 14, 23, 30)
    weekdays = window("09:00", "17:00", frozenset({1, 2, 3, 4, 5}))
    assert next_slot(weekdays, now, SYDNEY).at == now
    assert next_slot(weekdays, now, NY).at == utc(2026, 6, 15, 13, 0)


def test_overnight_window_open_since_yesterday() -> None:
    w = window("22:00", "02:00", frozenset({1}))  # opens Monday night only
    monday_2330 = utc(2026, 6, 16, 3, 30)  # Monday 23:30 EDT
    tuesday_0130 = utc(2026, 6, 16, 5, 30)  # Tuesday 01:30, still Monday's window
    tuesday_0300 = utc(2026, 6, 16, 7, 0)
    assert next_slot(w, monday_2330, NY).at == monday_2330
    slot = next_slot(w, tuesday_0130, NY)
    assert slot.at == tuesday_0130 and slot.window_end == utc(2026, 6, 16, 6, 0)
    assert next_slot(w, tuesday_0300, NY).at == utc(2026, 6, 23, 2, 0)  # next Monday 22:00


# -- spring forward (a wall hour that does not exist) ----------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        (NY, date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),  # 02:00 -> 03:00 EDT
        (BERLIN, date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),  # 02:00 -> 03:00 CEST
        (SYDNEY, date(2026, 10, 4), utc(2026, 10, 3, 16, 0)),  # 02:00 -> 03:00 AEDT
    ],
)
def test_a_start_in_the_skipped_hour_moves_to_the_jump(
    zone: ZoneInfo, day: date, expected: datetime
) -> None:
    w = window("02:30", "05:00")
    slot = next_slot(w, datetime.combine(day, time(0, 0), zone).astimezone(UTC), zone)
    assert slot.at == expected
    assert slot.at.astimezone(zone).time() == time(3, 0)


def test_a_window_inside_the_skipped_hour_does_not_open_that_day() -> None:
    w = window("02:10", "02:50")
    slot = next_slot(w, utc(2026, 3, 8, 5, 0), NY)  # 00:00 EST on the spring-forward day
    assert slot.at.astimezone(NY).date() == date(2026, 3, 9)
    assert slot.at.astimezone(NY).time() == time(2, 10)


def test_a_regular_window_on_the_spring_forward_day_is_an_hour_shorter_in_utc() -> None:
    slot = next_slot(window("01:00", "04:00"), utc(2026, 3, 8, 5, 0), NY)
    assert slot.at == utc(2026, 3, 8, 6, 0)  # 01:00 EST
    assert slot.window_end == utc(2026, 3, 8, 8, 0)  # 04:00 EDT: two real hours


# -- fall back (a wall hour that happens twice) ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "first", "second"),
    [
        (NY, date(2026, 11, 1), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)),
        (BERLIN, date(2026, 10, 25), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
        (SYDNEY, date(2026, 4, 5), utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 30)),
    ],
)
def test_a_repeated_wall_time_starts_at_its_first_and_ends_at_its_second(
    zone: ZoneInfo, day: date, first: datetime, second: datetime
) -> None:
    repeated = time(1, 30) if zone is NY else time(2, 30)
    assert wall_to_utc(day, repeated, zone) == first
    assert wall_to_utc(day, repeated, zone, later=True) == second
    start = (datetime.combine(day, repeated) - timedelta(minutes=30)).time()
    slot = next_slot(window(start.isoformat("minutes"), repeated.isoformat("minutes")), first, zone)
    # At the first 01:30 the window (which ends at the second 01:30) is open.
    assert slot.at == first and slot.window_end == second


def test_in_the_repeated_hour_the_window_stays_open() -> None:
    # 01:00-02:00 in New York on 2026-11-01 spans 05:00 to 07:00 UTC.
    w = window("01:00", "02:00")
    for minutes in (0, 30, 59, 60, 90, 119):
        now = utc(2026, 11, 1, 5, 0) + timedelta(minutes=minutes)
        assert next_slot(w, now, NY).at == now
    assert next_slot(w, utc(2026, 11, 1, 7, 0), NY).at.date() == date(2026, 11, 2)


# -- invariants ------------------------------------------------------------------------------


@given(
    start_minute=st.integers(0, 24 * 60 - 1),
    length=st.integers(1, 23 * 60),
    days=st.frozensets(st.integers(1, 7), min_size=1),
    offset_hours=st.integers(0, 24 * 400),
    zone=st.sampled_from([NY, BERLIN, SYDNEY, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]),
)
def test_the_slot_is_never_before_now_and_lies_in_the_window(
    start_minute: int, length: int, days: frozenset[int], offset_hours: int, zone: ZoneInfo
) -> None:
    start = time(start_minute // 60, start_minute % 60)
    end_minute = (start_minute + length) % (24 * 60)
    end = time(end_minute // 60, end_minute % 60)
    w = SendingWindow(start, end, days)
    now = utc(2026, 1, 1) + timedelta(hours=offset_hours, minutes=17)
    slot = next_slot(w, now, zone)
    assert now <= slot.at < slot.window_end
    assert next_slot(w, slot.at, zone).at == slot.at  # a slot is inside its own window


def test_windows_that_never_open_are_refused() -> None:
    with pytest.raises(InvalidWindow):
        window("09:00", "09:00")
    with pytest.raises(InvalidWindow):
        SendingWindow(time(9), time(17), frozenset())
    with pytest.raises(InvalidWindow):
        SendingWindow(time(9), time(17), frozenset({8}))


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(window("09:00", "17:00"), datetime(2026, 1, 1), NY)


def test_a_zone_that_is_not_iana_falls_back_and_says_so() -> None:
    assert zone_or("Europe/Berlin", "UTC") == (BERLIN, False)
    assert zone_or("Mars/Olympus", "America/New_York") == (NY, True)
    assert zone_or(None, "America/New_York") == (NY, False)
    assert zone_or("", "UTC") == (ZoneInfo("UTC"), False)
