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


def test_a_1_hz_main_window_stays_bounded_and_its_level_is_the_last_readings() -> None:
    """Issue 16: at 1 Hz the main indicator's 48-h window kept every reading (172,800 points per
    asset, refitted per reading). It keeps one point per window / MAIN_TREND_POINTS; the level
    now is still the last readings', and a fit is made again only when a point was kept."""
    from agents.machine import MAIN_TREND_POINTS
    from agents.machine_config import MachineThresholds

    th = MachineThresholds()
    tracker = TrendTracker(th.trend_window_h, min_dt_h=th.trend_window_h / MAIN_TREND_POINTS)
    rng = np.random.default_rng(16)
    second = 1 / 3600
    fits_made = 0
    last = None
    for k in range(6 * 3600):  # six hours of 1-Hz readings
        tracker.add(k * second, 2.0 + 0.01 * k * second + rng.normal(0, 0.05))
        hit, fit = tracker.cached_fit(1.5, 0.1)
        if not hit:
            fit = tracker.fit(floor=1.5, min_excess=0.1)
            fits_made += 1
        last = fit
    spacing = th.trend_window_h / MAIN_TREND_POINTS
    # One kept per 86.4 s: the first reading at or after it (readings come each whole second).
    times = [t for t, _ in tracker.points]
    assert all(spacing <= b - a < spacing + second for a, b in zip(times, times[1:], strict=False))
    assert len(times) <= math.floor(6 / spacing) + 1
    assert fits_made == len(tracker.points)  # one per kept point, none in between
    assert last is not None and last.slope > 0
    # Same as a fit made afresh on the same points.
    arr = np.asarray(tracker.points)
    fresh = fit_trend(arr[:, 0], arr[:, 1], floor=1.5, min_excess=0.1)
    assert fresh is not None and fresh.slope == last.slope and fresh.t_stat == last.t_stat
    # The level now: the median of the last three readings offered, not of the kept points.
    tracker.add(7.0, 9.0)
    tracker.add(7.0 + second, 9.5)
    tracker.add(7.0 + 2 * second, 9.2)
    assert tracker.recent_level() == 9.2
    restored = TrendTracker(th.trend_window_h, min_dt_h=spacing)
    restored.load(tracker.state())
    assert restored.recent_level() == 9.2 and list(restored.points) == list(tracker.points)
    restored.add(7.0 + second, 100.0)  # older than the last reading offered: ignored
    assert restored.recent_level() == 9.2


def test_a_snapshot_from_before_the_latest_values_were_kept_still_restores() -> None:
    tracker = TrendTracker(48.0)
    for k in range(5):
        tracker.add(float(k), float(k))
    old = {"window_h": 48.0, "points": [list(p) for p in tracker.points]}
    restored = TrendTracker(48.0)
    restored.load(old)
    assert restored.recent_level() == tracker.recent_level() == 3.0
    restored.add(4.0, 50.0)  # not after the last point: ignored as before
    assert restored.recent_level() == 3.0
