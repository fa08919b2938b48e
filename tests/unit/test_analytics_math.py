"""Rates and the two-proportion z-test, against values worked by hand."""

from __future__ import annotations

import math

from penguinmails.analytics import rate, two_proportion_z


def test_rate() -> None:
    assert rate(1, 3) == 33.33
    assert rate(0, 0) == 0.0
    assert rate(5, 5) == 100.0


def test_two_proportion_z() -> None:
    # 50/1000 against 80/1000: pooled 0.065, se = sqrt(0.065*0.935*0.002) = 0.011025...
    result = two_proportion_z(50, 1000, 80, 1000)
    assert result is not None
    se = math.sqrt(0.065 * 0.935 * 0.002)
    assert math.isclose(result.z, 0.03 / se, rel_tol=1e-3)
    assert result.difference == 3.0 and result.significant and result.p_value < 0.01
    small = two_proportion_z(5, 100, 6, 100)
    assert small is not None and not small.significant and small.p_value > 0.5
    assert two_proportion_z(0, 10, 0, 10) is None  # no variance
    assert two_proportion_z(1, 0, 1, 10) is None
