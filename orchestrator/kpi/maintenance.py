"""EN 15341 maintenance KPIs and energy per unit.

MTBF = operating time / number of failures; MTTR = total repair time / number of repairs.
With no failure in the period MTBF is undefined (None: "no failure seen", not infinity in JSON);
with no repair MTTR is None.
"""

from __future__ import annotations

from collections.abc import Sequence


def mtbf_h(operating_h: float, failures: int) -> float | None:
    """Mean operating time between failures, hours; None without a failure."""
    if failures <= 0:
        return None
    return max(0.0, operating_h) / failures


def mttr_h(repair_durations_h: Sequence[float]) -> float | None:
    """Mean time to repair, hours; None without a repair."""
    if not repair_durations_h:
        return None
    return sum(repair_durations_h) / len(repair_durations_h)


def energy_per_unit(kwh: float, good_units: int) -> float | None:
    """kWh per good unit; None when nothing good was made (no unit to divide by)."""
    if good_units <= 0:
        return None
    return kwh / good_units
