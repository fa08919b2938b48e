"""The warmup ramp and the billing period: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from penguinmails.providers import billing_period
from penguinmails.warmup import InvalidCurve, RampCurve, next_step


def test_the_ramp_grows_by_the_percentage_to_the_target() -> None:
    curve = RampCurve(start=20, growth_pct=20, target=100)
    assert [curve.cap(d) for d in range(11)] == [20, 24, 29, 35, 42, 50, 60, 72, 86, 100, 100]
    assert curve.days_to_target() == 9
    # Tiny growth still moves at least one send a day.
    assert [RampCurve(start=1, growth_pct=1, target=3).cap(d) for d in range(4)] == [1, 2, 3, 3]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": 0}, "target"),
        ({"target": -5}, "target"),
        ({"start": 0}, "start"),
        ({"start": 600, "target": 500}, "start"),
        ({"growth_pct": 0}, "growth_pct"),
        ({"step_back_days": -1}, "step_back_days"),
    ],
)
def test_bad_curves_name_their_field(fields: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidCurve) as caught:
        RampCurve(**fields)
    assert caught.value.field == field


def test_signals_hold_step_back_and_weekends() -> None:
    curve = RampCurve(start=10, growth_pct=50, target=1000, weekdays_only=True, step_back_days=2)
    monday, saturday = dt.date(2026, 11, 30), dt.date(2026, 11, 28)
    assert next_step(curve, 5, monday, []).day == 6
    held = next_step(curve, 5, monday, ["bounce", "complaint", "bounce"])
    assert (held.day, held.reason) == (5, "held: bounce, complaint")
    back = next_step(curve, 5, monday, ["bounce", "blocklist"])
    assert (back.day, back.cap, back.reason) == (3, curve.cap(3), "stepped back: blocklist")
    assert next_step(curve, 1, monday, ["blocklist"]).day == 0
    assert next_step(curve, 5, saturday, []).reason == "held: weekend"
    done = next_step(RampCurve(start=10, target=12), 0, monday, [])
    assert done.done and done.cap == 12


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_billing_day_is_clamped_to_the_month() -> None:
    assert billing_period(31, utc(2027, 2, 10)) == (utc(2027, 1, 31), utc(2027, 2, 28))
    assert billing_period(31, utc(2027, 2, 28)) == (utc(2027, 2, 28), utc(2027, 3, 31))
    assert billing_period(30, utc(2028, 2, 29, 12)) == (utc(2028, 2, 29), utc(2028, 3, 30))
    assert billing_period(15, utc(2026, 12, 20)) == (utc(2026, 12, 15), utc(2027, 1, 15))
    assert billing_period(15, utc(2027, 1, 3)) == (utc(2026, 12, 15), utc(2027, 1, 15))
    with pytest.raises(ValueError, match="1-31"):
        billing_period(0, utc(2027, 1, 3))
