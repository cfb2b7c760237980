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
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from agents import smallstats
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


def fit_trend_many(
    windows: Sequence[Sequence[tuple[float, float]] | np.ndarray],
    floors: Sequence[float | None],
    min_excess: Sequence[float],
    *,
    min_points: int = 8,
    prefer_exponential: float = 1.25,
) -> list[TrendFit | None]:
    """``fit_trend`` of many (hours, value) windows: one numpy pass per group of equal length.

    A shard's assets read in step, so their windows mostly hold as many points; each group of
    equal-length windows with floors is fitted as one 2-D array (rows are windows). The results
    equal ``fit_trend``'s up to the order of floating-point additions (dot products become row
    sums). Windows without a floor or shorter than ``min_points`` go through ``fit_trend``.
    """
    out: list[TrendFit | None] = [None] * len(windows)
    groups: dict[int, list[int]] = {}
    for i, (points, floor) in enumerate(zip(windows, floors, strict=True)):
        n = len(points)
        if n >= min_points and floor is not None:
            groups.setdefault(n, []).append(i)
        elif n:
            arr = np.asarray(points, dtype=np.float64)
            out[i] = fit_trend(
                arr[:, 0], arr[:, 1], floor=floor, min_excess=min_excess[i], min_points=min_points
            )
    for n, rows in groups.items():
        if all(isinstance(windows[i], np.ndarray) for i in rows):
            arr = np.stack([windows[i] for i in rows])  # ``TrendTracker.array()`` of each
        else:
            # One flat pass over the floats: converting nested tuples costs more than the fit.
            flat = chain.from_iterable(chain.from_iterable(windows[i] for i in rows))
            arr = np.fromiter(flat, np.float64, count=2 * n * len(rows)).reshape(len(rows), n, 2)
        fl = np.asarray([floors[i] for i in rows], dtype=np.float64)
        mx = np.asarray([min_excess[i] for i in rows], dtype=np.float64)
        with np.errstate(all="ignore"):
            fits = _fit_rows(arr[:, :, 0], arr[:, :, 1], fl, mx, prefer_exponential)
        for i, fit in zip(rows, fits, strict=True):
            out[i] = fit
    return out


def _ols_rows(t: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...]:
    """``_ols`` of every row: intercept, its s.e., slope, its s.e., fitted values."""
    n = t.shape[1]
    tm = t.mean(axis=1)
    tc = t - tm[:, None]
    sxx = (tc * tc).sum(axis=1)
    zm = z.mean(axis=1)
    slope = (tc * (z - zm[:, None])).sum(axis=1) / sxx
    intercept0 = zm - slope * tm
    fitted = intercept0[:, None] + slope[:, None] * t
    resid = z - fitted
    sigma = np.sqrt((resid * resid).sum(axis=1) / max(n - 2, 1))
    return intercept0, sigma * np.sqrt(1 / n + tm * tm / sxx), slope, sigma / np.sqrt(sxx), fitted


def _t_stat(b: float, se: float) -> float:
    return b / se if se > 0 else math.copysign(math.inf, b) if b else 0.0


def _fit_rows(
    t_h: np.ndarray, z: np.ndarray, floor: np.ndarray, min_excess: np.ndarray, prefer: float
) -> list[TrendFit | None]:
    """Rows of equal length with a floor each; see ``fit_trend`` for the rules."""
    t = t_h - t_h[:, -1:]
    span = -t[:, 0]
    a, a_se, b, se, fitted = _ols_rows(t, z)
    rmse = np.sqrt(np.mean((z - fitted) ** 2, axis=1))
    excess = z - floor[:, None]
    margin = np.maximum(min_excess, 1e-12)
    expo = np.mean(excess > margin[:, None], axis=1) >= 0.8
    ea = ea_se = eb = ese = ermse = np.full(z.shape[0], np.nan)
    if expo.any():
        logs = np.log(np.maximum(excess, margin[:, None]))
        ea, ea_se, eb, ese, efit = _ols_rows(t, logs)
        ermse = np.sqrt(np.mean((z - (floor[:, None] + np.exp(efit))) ** 2, axis=1))
    finite_z = np.isfinite(z).all(axis=1)
    n = z.shape[1]
    out: list[TrendFit | None] = []
    for r in range(z.shape[0]):
        if not finite_z[r] or span[r] <= 0:
            out.append(None)
            continue
        lin = (float(a[r]), float(a_se[r]), float(b[r]), float(se[r]))
        if not all(math.isfinite(x) for x in lin):
            out.append(None)
            continue
        # Built without re-validating: every field is already a float, an int or a literal.
        best = TrendFit.model_construct(
            model="linear",
            n=n,
            span_h=float(span[r]),
            intercept=lin[0],
            intercept_se=lin[1],
            slope=lin[2],
            slope_se=lin[3],
            t_stat=_t_stat(lin[2], lin[3]),
            level=lin[0],
            rmse=float(rmse[r]),
        )
        if expo[r]:
            ex = (float(ea[r]), float(ea_se[r]), float(eb[r]), float(ese[r]), float(ermse[r]))
            if all(math.isfinite(x) for x in ex) and ex[0] <= 700 and ex[4] < prefer * best.rmse:
                best = TrendFit.model_construct(
                    model="exponential",
                    n=n,
                    span_h=float(span[r]),
                    intercept=ex[0],
                    intercept_se=ex[1],
                    slope=ex[2],
                    slope_se=ex[3],
                    t_stat=_t_stat(ex[2], ex[3]),
                    level=float(floor[r]) + math.exp(ex[0]),
                    rmse=ex[4],
                    floor=float(floor[r]),
                )
        out.append(best)
    return out


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


#: Values behind ``TrendTracker.recent_level``.
_LATEST = 3


class TrendTracker:
    """Sliding window of (hours, value) for one indicator; fits on demand."""

    def __init__(self, window_h: float, *, min_dt_h: float = 0.0) -> None:
        self.window_h = window_h
        # Points closer than this to the last kept one are skipped: at 1 Hz a 48-h window would
        # otherwise hold 172,800 points per indicator for a fit that needs a few hundred.
        self.min_dt_h = min_dt_h
        self.points: deque[tuple[float, float]] = deque()
        # The last few (hours, value) offered in time order, kept or not: the level now
        # (``recent_level``), which a decimated window would otherwise show minutes late.
        self.latest: deque[tuple[float, float]] = deque(maxlen=_LATEST)
        self._last_t: float | None = None
        # The same points as float64 rows in [_lo, _hi) of a buffer grown by doubling, so a
        # shard's fits read them without converting the deque again every reading.
        self._buf = np.empty((64, 2), dtype=np.float64)
        self._lo = self._hi = 0
        # The last fit and what it was made of: the window does not change between kept
        # points, and neither does its fit (``cached_fit``).
        self.version = 0
        self._fit: tuple[tuple[int, float | None, float], TrendFit | None] | None = None

    def add(self, t_h: float, value: float) -> None:
        if self._last_t is not None and t_h <= self._last_t:
            return  # out of order or repeated time: a trend needs increasing time
        self._last_t = t_h
        self.latest.append((t_h, value))
        if self.points and t_h - self.points[-1][0] < self.min_dt_h:
            return
        self.points.append((t_h, value))
        self._push(t_h, value)
        self.version += 1
        while self.points and self.points[0][0] < t_h - self.window_h:
            self.points.popleft()
            self._lo += 1

    def _push(self, t_h: float, value: float) -> None:
        buf, lo, hi = self._buf, self._lo, self._hi
        if hi == len(buf):
            n = hi - lo
            if 2 * n > len(buf):
                grown = np.empty((2 * len(buf), 2), dtype=np.float64)
                grown[:n] = buf[lo:hi]
                self._buf = buf = grown
            else:
                buf[:n] = buf[lo:hi].copy()
            self._lo, hi = 0, n
        buf[hi, 0] = t_h
        buf[hi, 1] = value
        self._hi = hi + 1

    def array(self) -> np.ndarray:
        """The window as an (n, 2) float64 array, ``np.asarray(points)``'s values (a view: read
        it before the next ``add``)."""
        return self._buf[self._lo : self._hi]

    def fit(self, *, floor: float | None = None, min_excess: float = 0.0) -> TrendFit | None:
        hit, fit = self.cached_fit(floor, min_excess)
        if hit:
            return fit
        if self.points:
            arr = np.asarray(self.points, dtype=np.float64)
            fit = fit_trend(arr[:, 0], arr[:, 1], floor=floor, min_excess=min_excess)
        self.remember_fit(floor, min_excess, fit)
        return fit

    def cached_fit(self, floor: float | None, min_excess: float) -> tuple[bool, TrendFit | None]:
        """(True, the fit) when the window and the arguments are those of the last fit."""
        cached = self._fit
        if cached is not None and cached[0] == (self.version, floor, min_excess):
            return True, cached[1]
        return False, None

    def remember_fit(self, floor: float | None, min_excess: float, fit: TrendFit | None) -> None:
        """Keep ``fit`` as the window's fit with these arguments (``agents.machine_shard``)."""
        self._fit = ((self.version, floor, min_excess), fit)

    def recent_level(self) -> float:
        """Median of the last three values offered that are still inside the window (-inf when
        none): the level now, without the fit."""
        if self._last_t is None:
            return -math.inf
        since = self._last_t - self.window_h
        values = [v for t, v in self.latest if t >= since]
        return smallstats.median(values) if values else -math.inf

    def state(self) -> dict[str, Any]:
        return {
            "window_h": self.window_h,
            "points": [list(p) for p in self.points],
            "latest": [list(p) for p in self.latest],
            "last_t": self._last_t,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.points = deque((float(t), float(v)) for t, v in state["points"])
        self._buf = np.empty((max(64, 2 * len(self.points)), 2), dtype=np.float64)
        self._lo = self._hi = 0
        for t, v in self.points:
            self._push(t, v)
        # Snapshots from before the latest values were kept: every value was a point then.
        latest = state.get("latest")
        if latest is None:
            latest = list(self.points)[-_LATEST:]
        self.latest = deque(((float(t), float(v)) for t, v in latest), maxlen=_LATEST)
        last_t = state.get("last_t")
        self._last_t = float(last_t) if last_t is not None else (
            self.points[-1][0] if self.points else None
        )
        self.version += 1
        self._fit = None


__all__ = ["TrendFit", "TrendTracker", "estimate_rul", "fit_trend", "fit_trend_many"]
