"""The commissioning baseline's statistics are numpy's, bit for bit (they are computed in Python
since closing 10,000 baselines at once with np.median cost a second of CPU: issue 16)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from agents.baseline import REL_FLOOR, Baseline


def _numpy_reference(values: list[float]) -> tuple[float, float]:
    """What ``Baseline`` computed with numpy before: median and scale."""
    arr = np.asarray(values)
    med = float(np.median(arr))
    mad = 1.4826 * float(np.median(np.abs(arr - med)))
    gaps = np.diff(np.unique(arr))
    resolution = float(gaps.min()) if gaps.size else 0.0
    return med, max(mad, resolution, REL_FLOOR * abs(med), 1e-9)


def _windows(seed: int, count: int) -> list[list[float]]:
    rng = random.Random(seed)
    out = []
    for k in range(count):
        n = rng.randint(10, 40)
        kind = k % 4
        if kind == 0:  # a transmitter's noise
            out.append([rng.gauss(50, 3) for _ in range(n)])
        elif kind == 1:  # quantised to 0.1: repeats, the resolution matters
            out.append([round(rng.gauss(5, 1), 1) for _ in range(n)])
        elif kind == 2:  # signed zeros and the float range's edges
            out.append([rng.choice([0.0, -0.0, 1.5, 2.25, 1e300, -1e300]) for _ in range(n)])
        else:
            out.append([rng.uniform(-1e308, 1e308) for _ in range(n)])
    return out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow near 1e308, as before
def test_closed_baseline_matches_numpy_bit_for_bit() -> None:
    for values in _windows(seed=16, count=20_000):
        baseline = Baseline(readings=len(values), hours=None)
        baseline.samples = {"x": list(values)}
        baseline._close()
        got = (baseline.median["x"], baseline.scale["x"])
        assert repr(got) == repr(_numpy_reference(values)), values
