"""Pure arithmetic of the stats: rates and the two-proportion z-test of A/B variants."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95%


def rate(part: int, whole: int) -> float:
    """Percent with two decimals; 0 when nothing was sent."""
    return round(part * 100 / whole, 2) if whole > 0 else 0.0


@dataclass(frozen=True)
class ZTest:
    difference: float  # p2 - p1, in percentage points
    z: float
    p_value: float
    significant: bool  # at 95%, two-sided


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> ZTest | None:
    """Variant 2 against control 1 (x successes of n trials each), with the pooled standard
    error; None when either side has no trials or the pooled rate is 0 or 1 (no variance)."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (p2 - p1) / math.sqrt(variance)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return ZTest(round((p2 - p1) * 100, 2), round(z, 4), round(p_value, 6), abs(z) >= Z_95)


__all__ = ["Z_95", "ZTest", "rate", "two_proportion_z"]
