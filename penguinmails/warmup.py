"""The warmup ramp: a pure function of the curve and the ramp day, and what a reputation
signal does to the ramp. Used by the warmup activities and validated at the API.

day 0 allows `start`; each ramp day multiplies by (1 + growth_pct/100), rounded, at least
one more than the day before, up to `target`. With `weekdays_only`, Saturdays and Sundays
do not advance the ramp (the cap stays). A bounce or complaint holds the ramp a day; a
blocklist hit steps it back `step_back_days`; `burned` stops it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

HOLD_SIGNALS = ("bounce", "complaint")
STEP_BACK_SIGNALS = ("blocklist",)
STOP_SIGNALS = ("burned",)
SIGNALS = HOLD_SIGNALS + STEP_BACK_SIGNALS + STOP_SIGNALS


class InvalidCurve(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class RampCurve:
    start: int = 20
    growth_pct: float = 20.0
    target: int = 500
    weekdays_only: bool = False
    step_back_days: int = 3

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise InvalidCurve("target", "must be a positive number of sends a day")
        if self.start <= 0:
            raise InvalidCurve("start", "must be a positive number of sends a day")
        if self.start > self.target:
            raise InvalidCurve("start", "must not exceed the target")
        if not 0 < self.growth_pct <= 200:
            raise InvalidCurve("growth_pct", "must be above 0 and at most 200")
        if self.step_back_days < 0:
            raise InvalidCurve("step_back_days", "must not be negative")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RampCurve:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cap(self, day: int) -> int:
        cap = self.start
        for _ in range(max(day, 0)):
            cap = max(round(cap * (1 + self.growth_pct / 100)), cap + 1)
            if cap >= self.target:
                return self.target
        return min(cap, self.target)

    def days_to_target(self) -> int:
        day = 0
        while self.cap(day) < self.target:
            day += 1
        return day

    def ramps_on(self, date: dt.date) -> bool:
        return not self.weekdays_only or date.weekday() < 5


@dataclass(frozen=True)
class RampStep:
    day: int
    cap: int
    reason: str | None  # why the ramp did not simply advance
    done: bool  # the target reached


def next_step(curve: RampCurve, day: int, date: dt.date, signals: list[str]) -> RampStep:
    """The ramp for `date`, from yesterday's ramp `day` and the signals since."""
    if any(s in STEP_BACK_SIGNALS for s in signals):
        new_day, reason = max(day - curve.step_back_days, 0), "stepped back: blocklist"
    elif any(s in HOLD_SIGNALS for s in signals):
        kinds = sorted({s for s in signals if s in HOLD_SIGNALS})
        new_day, reason = day, "held: " + ", ".join(kinds)
    elif not curve.ramps_on(date):
        new_day, reason = day, "held: weekend"
    else:
        new_day, reason = day + 1, None
    cap = curve.cap(new_day)
    return RampStep(new_day, cap, reason, cap >= curve.target and reason is None)


__all__ = [
    "HOLD_SIGNALS",
    "SIGNALS",
    "STEP_BACK_SIGNALS",
    "STOP_SIGNALS",
    "InvalidCurve",
    "RampCurve",
    "RampStep",
    "next_step",
]
