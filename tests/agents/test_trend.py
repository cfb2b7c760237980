from __future__ import annotations

import math

import numpy as np

from agents.trend import TrendTracker, estimate_rul, fit_trend

FLOOR = 1.0  # healthy vibration, mm/s
RED = 4.5  # ISO 10816-3 group 2 rigid, zone D


def wear_curve(t_h: np.ndarray, *, a: float = 0.2, b: float = 0.02) -> np.ndarray:
    """Healthy level plus an exponentially growing excess (the P-F curve of a spall)."""
    return FLOOR + a * np.exp(b * t_h)


def hours_to_red(now_h: float, *, a: float = 0.2, b: float = 0.02) -> float:
    return math.log((RED - FLOOR) / a) / b - now_h


def test_exponential_wear_gives_a_rul_whose_interval_holds_the_truth() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(60.0, 108.0, 0.5)  # the last 48 h, now = 107.5 h
    y = wear_curve(t) * (1 + 0.02 * rng.standard_normal(t.size))
    fit = fit_trend(t, y, floor=FLOOR, min_excess=0.1)
    assert fit is not None and fit.model == "exponential"
    assert abs(fit.slope - 0.02) < 0.004
    rul = estimate_rul(fit, RED)
    truth = hours_to_red(107.5)
    assert rul is not None and rul.unit == "h"
    assert rul.lower <= truth <= rul.upper
    assert abs(rul.value - truth) < 0.15 * truth


def test_flat_noisy_indicator_gives_no_rul() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 48.0, 0.5)
    y = FLOOR + 0.05 * rng.standard_normal(t.size)
    fit = fit_trend(t, y, floor=FLOOR, min_excess=0.1)
    assert fit is not None and fit.model == "linear"  # the excess is noise: no exponential
    assert estimate_rul(fit, RED) is None


def test_linear_drift_is_extrapolated_to_the_threshold() -> None:
    rng = np.random.default_rng(6)
    t = np.arange(0.0, 48.0, 0.5)
    y = 50.0 + 0.25 * t + 0.3 * rng.standard_normal(t.size)  # e.g. a temperature creeping up
    fit = fit_trend(t, y)
    rul = estimate_rul(fit, 80.0)
    truth = (80.0 - (50.0 + 0.25 * t[-1])) / 0.25
    assert rul is not None and rul.lower <= truth <= rul.upper
    assert "linear" in rul.method


def test_beyond_the_threshold_the_rul_is_zero() -> None:
    t = np.arange(0.0, 24.0, 0.5)
    fit = fit_trend(t, 5.0 + 0.01 * t)
    rul = estimate_rul(fit, RED)
    assert rul is not None and rul.value == rul.lower == 0.0


def test_too_few_points_give_no_fit() -> None:
    assert fit_trend(np.arange(3.0), np.ones(3)) is None


def test_tracker_keeps_only_its_window_and_ignores_out_of_order_points() -> None:
    tracker = TrendTracker(window_h=10.0)
    for i in range(50):
        tracker.add(i * 0.5, FLOOR + 0.01 * i)
    tracker.add(3.0, 99.0)  # late, out of order: must not bend the trend
    assert tracker.points[0][0] >= 24.5 - 10.0
    assert all(v < 2 for _, v in tracker.points)
    copy = TrendTracker(window_h=10.0)
    copy.load(tracker.state())
    assert copy.fit() == tracker.fit()


def test_tracker_array_holds_the_points_through_growth_eviction_and_restore() -> None:
    """``TrendTracker.array()`` (what a shard's fits read) equals its points at every step."""
    import random

    rng = random.Random(1)
    for _ in range(100):
        tracker = TrendTracker(rng.uniform(0.01, 5.0), min_dt_h=rng.choice([0.0, 0.001]))
        t = 0.0
        for _ in range(rng.randint(0, 700)):
            t += rng.choice([rng.uniform(0.0, 0.02), -0.001, 0.0])  # out of order, repeated too
            tracker.add(t, rng.gauss(3.0, 1.0))
            expected = np.asarray(tracker.points, dtype=np.float64).reshape(-1, 2)
            assert np.array_equal(tracker.array(), expected)
        restored = TrendTracker(tracker.window_h)
        restored.load(tracker.state())
        expected = np.asarray(tracker.points, dtype=np.float64).reshape(-1, 2)
        assert np.array_equal(restored.array(), expected)
