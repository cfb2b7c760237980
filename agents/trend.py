"""Trend of a degradation indicator and the remaining useful life it implies.

Bearing wear does not grow in a straight line: once a spall forms, vibration rises slowly, then
faster and faster. The tracker therefore fits two models to a sliding window of recent values by
least squares and keeps the one with the smaller error in the indicator's own units:

- linear       ``y = a + b t``
- exponential  ``y = floor + exp(a + b t)`` -- growth of the excess over the asset's healthy
               baseline (``floor``), the usual shape of the P-F curve once a defect exists.

Remaining useful life is the time until the fitted curve crosses the red threshold. Its interval
comes from the standard errors of the fitted level now and of the slope (``+- k * se``): a higher
level with a steeper slope gives the lower bound, a lower level with a shallower slope the upper
bound (capped at ``horizon_h`` when the slope may be zero).
No RUL is given unless the rise is statistically clear (``t_stat >= min_t``), so a flat, noisy
indicator yields ``None`` rather than a made-up number.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from agents.models import RulEstimate


class TrendFit(BaseModel):
    """A fitted trend: model, slope (per hour, in model space), its significance, level now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Literal["linear", "exponential"]
    n: int
    span_h: float
    intercept: float  # model-space value at t_now
    intercept_se: float
    slope: float  # per hour, in model space (units/h, or 1/h of the excess for exponential)
    slope_se: float
    t_stat: float
    level: float  # fitted indicator value now, in the indicator's units
    rmse: float  # residual RMS in the indicator's units
    floor: float = 0.0

    @property
    def rising(self) -> bool:
        return self.slope > 0

    def value_at(self, dt_h: float, slope: float | None = None) -> float:
        """Fitted indicator ``dt_h`` hours after now (optionally with another slope)."""
        b = self.slope if slope is None else slope
        if self.model == "linear":
            return self.intercept + b * dt_h
        return self.floor + math.exp(min(self.intercept + b * dt_h, 700.0))


def _ols(t: np.ndarray, z: np.ndarray) -> tuple[float, float, float, float, np.ndarray]:
    """Intercept at t=0, its standard error, slope, slope standard error, fitted values."""
    tm = float(t.mean())
    tc = t - tm
    sxx = float(np.dot(tc, tc))
    slope = float(np.dot(tc, z - z.mean())) / sxx
    intercept0 = float(z.mean()) - slope * tm
    fitted = intercept0 + slope * t
    resid = z - fitted
    sigma = math.sqrt(float(np.dot(resid, resid)) / max(t.size - 2, 1))
    return (
        intercept0,
        sigma * math.sqrt(1 / t.size + tm * tm / sxx),
        slope,
        sigma / math.sqrt(sxx),
        fitted,
    )


def fit_trend(
    t_h: np.ndarray,
    y: np.ndarray,
    *,
    floor: float | None = None,
    min_excess: float = 0.0,
    min_points: int = 8,
    prefer_exponential: float = 1.25,
) -> TrendFit | None:
    """Fit linear and (with a ``floor``) exponential trends; return the better one, or ``None``.

    ``t_h`` are hours with the latest point last; the fit's ``intercept`` is taken at that time.
    The exponential model is tried only when at least 80 % of the points exceed the floor by
    ``min_excess`` (in the healthy state the excess is noise and its logarithm is meaningless).
    """
    t = np.asarray(t_h, dtype=np.float64)
    z = np.asarray(y, dtype=np.float64)
    if t.size < min_points or t.size != z.size or float(t[-1] - t[0]) <= 0:
        return None
    t = t - t[-1]  # now = 0, so intercepts are levels now
    span = float(-t[0])
    if not np.all(np.isfinite(z)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        a, a_se, b, se, fitted = _ols(t, z)
    # Readings near the float limits (+-1e308) overflow the sums: no trend, rather than a NaN RUL.
    if not all(math.isfinite(x) for x in (a, a_se, b, se)):
        return None
    best = TrendFit(
        model="linear",
        n=t.size,
        span_h=span,
        intercept=a,
        intercept_se=a_se,
        slope=b,
        slope_se=se,
        t_stat=b / se if se > 0 else math.copysign(math.inf, b) if b else 0.0,
        level=a,
        rmse=float(np.sqrt(np.mean((z - fitted) ** 2))),
    )
    if floor is not None:
        excess = z - floor
        margin = max(min_excess, 1e-12)
        if np.mean(excess > margin) >= 0.8:
            logs = np.log(np.maximum(excess, margin))
            with np.errstate(over="ignore", invalid="ignore"):
                ea, ea_se, eb, ese, efit = _ols(t, logs)
                rmse = float(np.sqrt(np.mean((z - (floor + np.exp(efit))) ** 2)))
            if not all(math.isfinite(x) for x in (ea, ea_se, eb, ese, rmse)) or ea > 700:
                return best
            # Wear grows exponentially once a defect exists (the P-F curve); prefer that shape
            # unless the straight line is clearly better.
            if rmse < prefer_exponential * best.rmse:
                best = TrendFit(
                    model="exponential",
                    n=t.size,
                    span_h=span,
                    intercept=ea,
                    intercept_se=ea_se,
                    slope=eb,
                    slope_se=ese,
                    t_stat=eb / ese if ese > 0 else math.copysign(math.inf, eb) if eb else 0.0,
                    level=floor + math.exp(ea),
                    rmse=rmse,
                    floor=floor,
                )
    return best


def _hours_to(fit: TrendFit, threshold: float, slope: float, shift: float = 0.0) -> float:
    """Hours until the curve (with ``slope``, level moved by ``shift``) reaches ``threshold``."""
    start = fit.intercept + shift
    target = threshold if fit.model == "linear" else math.log(max(threshold - fit.floor, 1e-12))
    if start >= target:
        return 0.0
    if slope <= 0:
        return math.inf
    return (target - start) / slope


def estimate_rul(
    fit: TrendFit | None,
    threshold: float,
    *,
    k: float = 2.0,
    min_t: float = 3.0,
    horizon_h: float = 2000.0,
    rel_floor: float = 0.25,
) -> RulEstimate | None:
    """Hours until ``threshold`` with an interval, or ``None`` when there is no clear rise."""
    if fit is None or not math.isfinite(threshold):
        return None
    if fit.level < threshold and (fit.slope <= 0 or fit.t_stat < min_t):
        return None
    value = min(_hours_to(fit, threshold, fit.slope), horizon_h)
    # Both the level now and the slope are uncertain; the bounds take both at their worst.
    dz, db = k * fit.intercept_se, k * fit.slope_se
    lower = min(_hours_to(fit, threshold, fit.slope + db, dz), value)
    upper = min(max(_hours_to(fit, threshold, fit.slope - db, -dz), value), horizon_h)
    # The standard errors assume the model is right; real wear curves bend differently, so a
    # window's extrapolation is never trusted to better than +-rel_floor.
    lower = min(lower, value * (1.0 - rel_floor))
    upper = min(max(upper, value * (1.0 + rel_floor)), horizon_h)
    if not all(math.isfinite(x) for x in (value, lower, upper)):
        return None  # an overflowed fit (readings near the float limits) has no meaningful RUL
    if lower >= horizon_h:
        return None  # no end in sight within the horizon: a number here would only mislead
    return RulEstimate(
        value=round(value, 2),
        lower=round(lower, 2),
        upper=round(upper, 2),
        unit="h",
        method=f"{fit.model} trend over {fit.span_h:.0f} h, interval level and slope +-{k:g} s.e.",
    )


class TrendTracker:
    """Sliding window of (hours, value) for one indicator; fits on demand."""

    def __init__(self, window_h: float, *, min_dt_h: float = 0.0) -> None:
        self.window_h = window_h
        # Points closer than this to the last kept one are skipped: at 1 Hz a 48-h window would
        # otherwise hold 172,800 points per indicator for a fit that needs a few hundred.
        self.min_dt_h = min_dt_h
        self.points: deque[tuple[float, float]] = deque()

    def add(self, t_h: float, value: float) -> None:
        if self.points and t_h <= self.points[-1][0]:
            return  # out of order or repeated time: a trend needs increasing time
        if self.points and t_h - self.points[-1][0] < self.min_dt_h:
            return
        self.points.append((t_h, value))
        while self.points and self.points[0][0] < t_h - self.window_h:
            self.points.popleft()

    def fit(self, *, floor: float | None = None, min_excess: float = 0.0) -> TrendFit | None:
        if not self.points:
            return None
        arr = np.asarray(self.points, dtype=np.float64)
        return fit_trend(arr[:, 0], arr[:, 1], floor=floor, min_excess=min_excess)

    def recent_level(self, n: int = 3) -> float:
        """Median of the last ``n`` values (-inf when empty): the level now, without the fit."""
        if not self.points:
            return -math.inf
        return float(np.median([v for _, v in list(self.points)[-n:]]))

    def state(self) -> dict[str, Any]:
        return {"window_h": self.window_h, "points": [list(p) for p in self.points]}

    def load(self, state: Mapping[str, Any]) -> None:
        self.points = deque((float(t), float(v)) for t, v in state["points"])


__all__ = ["TrendFit", "TrendTracker", "estimate_rul", "fit_trend"]
