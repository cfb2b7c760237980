"""The plain-Python stand-ins give numpy's numbers bit for bit, so no threshold moves."""

from __future__ import annotations

import numpy as np
import pytest

from agents import smallstats


def samples(seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3000):
        n = int(rng.integers(1, 129))
        arr = rng.normal(50.0, rng.uniform(1e-3, 10.0), n) * rng.choice([1.0, 1e-3, 1e5])
        if k % 3 == 0:
            arr = np.round(arr, 1)  # quantised sensors repeat values
        if k % 5 == 0:
            arr[rng.integers(0, n, max(1, n // 3))] = 0.0
        out.append(arr.tolist())
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_std_median_and_quantile_equal_numpys_exactly(seed: int) -> None:
    for xs in samples(seed):
        assert smallstats.std(xs) == float(np.std(xs))
        assert smallstats.median(xs) == float(np.median(xs))
        steps = sorted(abs(x) for x in xs)
        assert smallstats.quantile_sorted(steps, 0.98) == float(np.quantile(steps, 0.98))


def test_sums_beyond_numpys_block_are_refused_not_approximated() -> None:
    with pytest.raises(ValueError, match="128"):
        smallstats.pairwise_sum([1.0] * 129)


@pytest.mark.parametrize("seed", [1, 2])
def test_std_of_eight_equals_std_and_numpys_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for k in range(5000):
        xs = (rng.normal(50.0, rng.uniform(1e-6, 10.0), 8) * rng.choice([1.0, 1e-3, 1e5])).tolist()
        if k % 4 == 0:
            xs = [round(x, 1) for x in xs]  # quantised: repeated values, zero spread
        if k % 7 == 0:
            xs[int(rng.integers(0, 8))] = float(rng.choice([1e300, -1e300, 0.0]))  # absurd values
        with np.errstate(all="ignore"):
            expected = float(np.std(xs))
        got = smallstats.std8(*xs)
        assert got == expected or (np.isnan(got) and np.isnan(expected))
        assert got == smallstats.std(xs) or (np.isnan(got) and np.isnan(expected))


def test_a_window_called_clearly_alive_spreads_at_least_the_flatline_bar() -> None:
    """``_clearly_alive`` skips the std only where the std would clear the bar: checked on
    random windows at every scale, the float range's large values and near-misses of the bar."""
    from agents.sensor_faults import _clearly_alive

    rng = np.random.default_rng(16)
    skipped = 0
    for _ in range(50_000):
        scale = 10.0 ** rng.integers(-6, 15)
        centre = rng.choice([0.0, 1.0, -1.0, 1e6, 1e14]) * scale
        w = tuple(float(v) for v in centre + rng.normal(0.0, scale * rng.uniform(0.01, 2), 8))
        # Bars around the window's own std: most just below or above it, the hard cases.
        flat_at = smallstats.std8(*w) * rng.choice([0.25, 0.9, 0.999999, 1.0, 1.000001, 2.0])
        if _clearly_alive(w, flat_at):
            skipped += 1
            assert smallstats.std8(*w) >= flat_at, (w, flat_at)
    assert skipped > 1_000  # the shortcut is taken, not vacuously safe
