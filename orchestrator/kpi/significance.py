"""Is one yield really different from another? The two-proportion z-test (pooled).

A difference is reported only when p < alpha and both groups are big enough for the normal
approximation (each group's expected successes and failures >= 5); otherwise it is noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ProportionTest:
    p1: float
    p2: float
    z: float
    p_value: float
    significant: bool


def two_proportion_z(
    good1: int, total1: int, good2: int, total2: int, *, alpha: float = 0.01
) -> ProportionTest:
    """Two-sided pooled z-test of good1/total1 against good2/total2."""
    if total1 <= 0 or total2 <= 0:
        return ProportionTest(0.0, 0.0, 0.0, 1.0, False)
    p1, p2 = good1 / total1, good2 / total2
    pooled = (good1 + good2) / (total1 + total2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total1 + 1 / total2))
    if se == 0:
        return ProportionTest(p1, p2, 0.0, 1.0, False)
    z = (p1 - p2) / se
    p_value = math.erfc(abs(z) / math.sqrt(2))
    big_enough = all(
        n * p >= 5 and n * (1 - p) >= 5 for n in (total1, total2) for p in (pooled,)
    )
    return ProportionTest(p1, p2, z, p_value, big_enough and p_value < alpha)
