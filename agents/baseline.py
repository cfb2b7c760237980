"""The asset's own healthy baseline, learned during commissioning, and robust anomaly scores.

Fixed limits (ISO zones, maker's thresholds) say when a machine is bad in general; the baseline
says when *this* machine no longer behaves as it did when it was known to be healthy. During the
commissioning window every believable feature value is kept; when the window closes, each feature
gets a median and a robust spread (1.4826 x MAD, i.e. the standard deviation for Gaussian data,
but not pulled by the odd outlier). Afterwards a value is scored by its robust z-score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

#: Fewest values of a feature needed to learn it; features seen less often are not scored.
MIN_VALUES = 10
#: Relative floor of the spread, so a feature that hardly moved in commissioning (e.g. speed
#: under a constant set point) does not turn every later wiggle into a huge z-score.
REL_FLOOR = 0.02


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
            arr = np.asarray(values)
            med = float(np.median(arr))
            mad = 1.4826 * float(np.median(np.abs(arr - med)))
            self.median[name] = med
            self.scale[name] = max(mad, REL_FLOOR * abs(med), 1e-9)
        self.samples = {}
        self.ready = True

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
        self.ready = bool(state["ready"])


__all__ = ["Baseline"]
