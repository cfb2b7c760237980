"""The asset's own healthy baseline, learned during commissioning, and robust anomaly scores.

Fixed limits (ISO zones, maker's thresholds) say when a machine is bad in general; the baseline
says when *this* machine no longer behaves as it did when it was known to be healthy. During the
commissioning window every believable feature value is kept; when the window closes, each feature
gets a median and a robust spread (1.4826 x MAD, i.e. the standard deviation for Gaussian data,
but not pulled by the odd outlier). Afterwards a value is scored by its robust z-score.

Each feature also gets a ``level_scale``: the robust spread of the rolling median of
``LEVEL_WINDOW`` values over the commissioning window, never below what white noise alone would
give (1.25 x spread / sqrt(window)). Slow wander seen while commissioning widens it, so the
level of an indicator is judged against how much its level moved when healthy, not only against
the reading-to-reading noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

#: Fewest values of a feature needed to learn it; features seen less often are not scored.
MIN_VALUES = 10
#: Relative floor of the spread, so a feature that hardly moved in commissioning does not turn
#: every later wiggle into a huge z-score: 0.1 % of the value, the accuracy class of a good
#: transmitter. (It was 2 %, which hid real departures of large-valued indicators: a temperature
#: of 1,400 K would have needed 28 K to move one z.) Quantised values also get their resolution.
REL_FLOOR = 0.001
#: Readings whose median is the *level* of an indicator (drift detection, ``agents.drift``).
LEVEL_WINDOW = 8
#: Standard error of a median of n Gaussian values is about 1.25 sigma / sqrt(n).
_MEDIAN_EFFICIENCY = 1.2533


class Baseline:
    """Commissioning-window statistics per feature, then robust z-scores against them."""

    def __init__(self, *, readings: int | None, hours: float | None) -> None:
        # Neither given: 48 readings, a couple of days at typical condition-monitoring rates.
        self.need_readings = readings if readings is not None else (48 if hours is None else 0)
        self.need_hours = hours or 0.0
        self.start: datetime | None = None
        self.count = 0
        self.samples: dict[str, list[float]] = {}
        self.median: dict[str, float] = {}
        self.scale: dict[str, float] = {}
        self.level_scale: dict[str, float] = {}
        self.ready = False

    def add(self, time: datetime, features: Mapping[str, float]) -> bool:
        """Learn from one reading while commissioning; return True when the baseline just closed."""
        if self.ready:
            return False
        if self.start is None:
            self.start = time
        self.count += 1
        for name, value in features.items():
            if math.isfinite(value):
                self.samples.setdefault(name, []).append(float(value))
        elapsed_h = (time - self.start).total_seconds() / 3600.0
        if self.count >= max(self.need_readings, MIN_VALUES) and elapsed_h >= self.need_hours:
            self._close()
            return True
        return False

    def _close(self) -> None:
        for name, values in self.samples.items():
            if len(values) < MIN_VALUES:
                continue
            # Sorted in Python: a commissioning window is small, and np.median's set-up cost per
            # call (~20 us) made closing 10,000 baselines at once a second of CPU. The values are
            # numpy's: the middle value, or the two middle values' sum halved.
            ordered = sorted(values)
            med = _median_of_sorted(ordered)
            if med == 0.0:  # which zero (+0.0 / -0.0) numpy's partition leaves in the middle
                med, mad, resolution = _numpy_stats(values)
            else:
                mad = 1.4826 * _median_of_sorted(sorted(abs(v - med) for v in ordered))
                distinct = sorted(set(ordered))
                resolution = min(
                    (b - a for a, b in zip(distinct, distinct[1:], strict=False)), default=0.0
                )
            scale = max(mad, resolution, REL_FLOOR * abs(med), 1e-9)
            self.median[name] = med
            self.scale[name] = scale
            self.level_scale[name] = _level_scale(values, scale)
        self.samples = {}
        self.ready = True

    def level_z(self, name: str, level: float) -> float | None:
        """Robust z of an indicator's smoothed level against the spread of its healthy level."""
        if name not in self.median or not math.isfinite(level):
            return None
        return (level - self.median[name]) / self.level_scale[name]

    def z(self, features: Mapping[str, float]) -> dict[str, float]:
        """Robust z-score of each learned feature present in ``features``."""
        if not self.ready:
            return {}
        return {
            name: (value - self.median[name]) / self.scale[name]
            for name, value in features.items()
            if name in self.median and math.isfinite(value)
        }

    def state(self) -> dict[str, Any]:
        return {
            "need_readings": self.need_readings,
            "need_hours": self.need_hours,
            "start": self.start.isoformat() if self.start else None,
            "count": self.count,
            "samples": self.samples,
            "median": self.median,
            "scale": self.scale,
            "level_scale": self.level_scale,
            "ready": self.ready,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.need_readings = int(state["need_readings"])
        self.need_hours = float(state["need_hours"])
        self.start = datetime.fromisoformat(state["start"]) if state["start"] else None
        self.count = int(state["count"])
        self.samples = {k: [float(v) for v in vs] for k, vs in state["samples"].items()}
        self.median = {k: float(v) for k, v in state["median"].items()}
        self.scale = {k: float(v) for k, v in state["scale"].items()}
        # Snapshots from before level scales existed: the white-noise bound.
        white = _MEDIAN_EFFICIENCY / math.sqrt(LEVEL_WINDOW)
        self.level_scale = {
            k: float(state.get("level_scale", {}).get(k, white * v)) for k, v in self.scale.items()
        }
        self.ready = bool(state["ready"])


def _numpy_stats(values: list[float]) -> tuple[float, float, float]:
    """Median, 1.4826 x MAD and the smallest step between distinct values, by numpy."""
    arr = np.asarray(values)
    med = float(np.median(arr))
    gaps = np.diff(np.unique(arr))
    resolution = float(gaps.min()) if gaps.size else 0.0
    return med, 1.4826 * float(np.median(np.abs(arr - med))), resolution


def _median_of_sorted(ordered: list[float]) -> float:
    """``np.median`` of sorted finite floats, bit for bit: the middle one, or (a + b) / 2."""
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _level_scale(values: list[float], scale: float) -> float:
    """Robust spread of the rolling ``LEVEL_WINDOW``-median, floored at the white-noise value."""
    white = _MEDIAN_EFFICIENCY * scale / math.sqrt(LEVEL_WINDOW)
    if len(values) < 2 * LEVEL_WINDOW:
        return white
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(values), LEVEL_WINDOW)
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float limits
        levels = np.median(windows, axis=1)
        mad = 1.4826 * float(np.median(np.abs(levels - np.median(levels))))
    return max(mad, white) if math.isfinite(mad) else white


__all__ = ["LEVEL_WINDOW", "Baseline"]
