"""Departure of every condition indicator from the asset's own commissioning baseline.

Declared limits and ISO zones say when a machine is bad in general; most indicators of a real
machine have neither (a vendor's "condition indicator", a waveform kurtosis, a pressure margin).
This module judges each of them against what *this* machine did while it was known to be healthy
(``agents.baseline``) and raises amber, with the indicator and its direction named, when the
indicator departs far, lasting and with a trend. The rule for one indicator, with the defaults of
``MachineThresholds``:

1. **Far.** The level (median of the last ``LEVEL_WINDOW`` = 8 values) lies at least
   ``drift_z`` = 8 robust z beyond the baseline median measured against the spread of the *level*
   when healthy (slow wander seen in commissioning widens it), and at least ``drift_raw_z`` = 3
   robust z measured against single healthy readings -- beyond 99.7 % of the healthy values, so a
   very quiet indicator is not called on a shift that is small next to its noise.
2. **A new extreme.** The level also lies beyond every level the indicator had more than
   ``drift_memory_h`` = 24 h ago (since commissioning) by ``drift_margin_z`` = 0.5 z. Wear keeps
   setting new extremes; a daily temperature cycle or a load-driven swing comes back to levels it
   has reached before.

   **Seasoning.** The first memory span (24 h) after commissioning raises nothing: it is learned.
   A commissioning window shorter than the slowest wander (a day/night cycle, a mean-reverting
   drift of hours) under-states the spread; when the first day's values spread wider about the
   commissioning median than commissioning did, both spreads of 1 are widened by that factor
   (never narrowed). The report's z is against the widened spread.
3. **Trended.** The least-squares slope over ``trend_window_h`` (48 h) points the same way with
   a t-statistic of at least ``rising_t`` = 3, after the AR(1) correction for autocorrelated
   residuals (wander makes neighbouring readings alike, which plain least squares would count as
   independent evidence).
4. **Sustained.** 1-3 hold for ``persistence`` readings in a row (3); the status persistence of
   the agent comes on top. Once raised, the departure holds until the level falls back below half
   of both thresholds in 1 (hysteresis), trend or not: a level far from baseline that stopped
   rising is still far from baseline.

Direction: vibration, temperature and waveform features judge a rise; a generic condition
indicator either way; any sensor may declare ``degrades = "rise" | "fall" | "either"``.

**Red without a declared limit**: the level is ``drift_red_multiple`` = 4 times the amber
excursion (4 x 3 = 12 robust z of single readings) and still trended (t >= ``rising_t``). It
applies only on assets without any red limit (declared or ISO); where a red limit exists, it and
the remaining life towards it decide red and a drift is amber evidence only.

Where these numbers come from: z >= 3 of single readings is the Shewhart 3-sigma rule; a level z
of 8 keeps the chance of a random call per indicator and reading, for Gaussian noise, below 1e-15
(the margin that lets many indicators be watched for years); the 24-h memory is the period of
the slowest common wander (ambient temperature, shift pattern); t >= 3 and the hold of 3 are the
agent's existing rising-trend and persistence rules. None was fitted to a data set.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.baseline import LEVEL_WINDOW, Baseline
from agents.machine_config import MachineThresholds
from agents.models import RulEstimate
from agents.trend import TrendFit, TrendTracker, estimate_rul

#: Buckets per memory span kept for the "new extreme" test (memory stays bounded at any rate).
_BUCKETS = 24
#: Values kept (at most) from the first memory span after commissioning.
_SEASON_POINTS = 240
#: Spans the trend window is cut into for the trend test.
_BLOCKS = 12
#: Points per trend window kept for the trend fit (decimated beyond that).
_TREND_POINTS = 240


@dataclass(frozen=True, slots=True)
class Drift:
    """One indicator departing from its baseline now."""

    feature: str
    direction: int  # +1 rise, -1 fall
    z: float  # robust z of the level against single healthy readings (signed)
    level: float
    baseline: float
    t_stat: float
    red: bool
    fit: TrendFit | None

    @property
    def word(self) -> str:
        return "rising" if self.direction > 0 else "falling"


def small_median(values: Iterable[float]) -> float:
    """Median of a handful of values; np.median costs ~60 us a call, a sort of 8 floats ~1 us."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return ordered[mid - 1] / 2 + ordered[mid] / 2  # halves first: no overflow near 1e308


class _Track:
    """Drift state of one indicator."""

    def __init__(self, window_h: float) -> None:
        self.values: deque[float] = deque(maxlen=LEVEL_WINDOW)
        self.tracker = TrendTracker(window_h, min_dt_h=window_h / _TREND_POINTS)
        self.first_h: float | None = None
        # (bucket, highest, lowest) level minus baseline median; older ones fold into ref.
        self.recent: deque[list[float]] = deque()
        # Raw values of the first memory span after commissioning (decimated), then the factor
        # by which they widened the commissioning spread.
        self.season: list[float] = []
        self.widen: float | None = None
        self.ref_hi = -math.inf
        self.ref_lo = math.inf
        self.hold = 0
        self.active = 0  # direction of the active departure, 0 when none

    def state(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "tracker": self.tracker.state(),
            "first_h": self.first_h,
            "recent": [list(b) for b in self.recent],
            "ref": [self.ref_hi, self.ref_lo],
            "hold": self.hold,
            "active": self.active,
            "season": self.season,
            "widen": self.widen,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.values.extend(float(v) for v in state["values"])
        self.tracker.load(state["tracker"])
        self.first_h = None if state["first_h"] is None else float(state["first_h"])
        self.recent = deque([float(x) for x in b] for b in state["recent"])
        self.ref_hi, self.ref_lo = (float(x) for x in state["ref"])
        self.hold, self.active = int(state["hold"]), int(state["active"])
        self.season = [float(v) for v in state["season"]]
        self.widen = None if state["widen"] is None else float(state["widen"])


class DriftMonitor:
    """Per-indicator departure from the baseline, with hysteresis; see the module docstring."""

    def __init__(self, th: MachineThresholds, directions: Mapping[str, tuple[int, ...]]) -> None:
        self.th = th
        self.directions = dict(directions)  # feature -> allowed directions (+1, -1)
        self.tracks: dict[str, _Track] = {}

    def reset(self) -> None:
        self.tracks = {}

    def update(
        self, t_h: float, features: Mapping[str, float], baseline: Baseline, *, allow_red: bool
    ) -> list[Drift]:
        """Feed one reading's features (after commissioning); return the active departures."""
        out: list[Drift] = []
        for key, value in features.items():
            dirs = self.directions.get(key)
            if not dirs or key not in baseline.median or not math.isfinite(value):
                continue
            track = self.tracks.get(key)
            if track is None:
                track = self.tracks[key] = _Track(self.th.trend_window_h)
            # Readings near the float limits overflow a median of two: judged as no level.
            with np.errstate(over="ignore", invalid="ignore"):
                drift = self._judge(key, track, t_h, value, baseline, dirs, allow_red)
            if drift is not None:
                out.append(drift)
        return out

    def _judge(
        self,
        key: str,
        tr: _Track,
        t_h: float,
        value: float,
        baseline: Baseline,
        dirs: tuple[int, ...],
        allow_red: bool,
    ) -> Drift | None:
        th = self.th
        tr.values.append(value)
        tr.tracker.add(t_h, value)
        if tr.first_h is None:
            tr.first_h = t_h
        if len(tr.values) < LEVEL_WINDOW:
            return None
        level = small_median(tr.values)
        if not math.isfinite(level):
            return None
        med = baseline.median[key]
        if tr.widen is None:
            if t_h - tr.first_h < th.drift_memory_h:
                dt = th.drift_memory_h / _SEASON_POINTS
                if len(tr.season) * dt <= t_h - tr.first_h:
                    tr.season.append(value)
                self._remember(tr, t_h, level - med)
                return None
            tr.widen = _widen(tr.season, med, baseline.scale[key])
            tr.season = []
        scale = baseline.scale[key] * tr.widen
        delta = level - med
        z = delta / scale
        zl = delta / (baseline.level_scale[key] * tr.widen)
        margin = th.drift_margin_z * scale
        new_hi, new_lo = delta >= tr.ref_hi + margin, delta <= tr.ref_lo - margin
        self._remember(tr, t_h, delta)
        if tr.active:
            d = tr.active
            if d * z < 0.5 * th.drift_raw_z or d * zl < 0.5 * th.drift_z:
                tr.active, tr.hold = 0, 0
                return None
        else:
            d = next(
                (
                    d
                    for d in dirs
                    if d * z >= th.drift_raw_z
                    and d * zl >= th.drift_z
                    and (new_hi if d > 0 else new_lo)
                ),
                0,
            )
            if d:
                if d * _block_t(tr.tracker) < th.rising_t:
                    d = 0
            tr.hold = tr.hold + 1 if d else 0
            if tr.hold < th.persistence:
                return None
            tr.active = d
        fit = tr.tracker.fit()  # for the RUL towards a learned failure level
        t_stat = d * _block_t(tr.tracker)
        red = (
            allow_red and d * z >= th.drift_red_multiple * th.drift_raw_z and t_stat >= th.rising_t
        )
        return Drift(key, d, z, level, med, t_stat, red, fit)

    def _remember(self, tr: _Track, t_h: float, z: float) -> None:  # z: level - median
        """Keep per-bucket extremes of the level; fold those older than the memory into ref."""
        width = self.th.drift_memory_h / _BUCKETS
        bucket = math.floor(t_h / width)
        if tr.recent and tr.recent[-1][0] == bucket:
            last = tr.recent[-1]
            last[1], last[2] = max(last[1], z), min(last[2], z)
        else:
            tr.recent.append([float(bucket), z, z])
        while tr.recent and (bucket - tr.recent[0][0]) * width > self.th.drift_memory_h:
            _, hi, lo = tr.recent.popleft()
            tr.ref_hi, tr.ref_lo = max(tr.ref_hi, hi), min(tr.ref_lo, lo)

    def state(self) -> dict[str, Any]:
        return {k: t.state() for k, t in self.tracks.items()}

    def load(self, state: Mapping[str, Any]) -> None:
        self.tracks = {}
        for key, st in state.items():
            track = self.tracks[key] = _Track(self.th.trend_window_h)
            track.load(st)


def _widen(season: list[float], median: float, scale: float) -> float:
    """How much wider than commissioning showed the first day's healthy spread is (>= 1).

    A commissioning window shorter than the slowest wander (a day/night cycle, a mean-reverting
    drift of hours) under-states the spread; the first memory span after it, when the rule does
    not raise yet, shows more of it. Robust spread about the commissioning median, so a level
    that moved away counts too.
    """
    if len(season) < 10:
        return 1.0
    arr = np.asarray(season, dtype=np.float64)
    return max(1.0, 1.4826 * float(np.median(np.abs(arr - median))) / scale)


def _block_t(tracker: TrendTracker) -> float:
    """t-statistic of the slope over the trend window, robust to wander (signed).

    Least squares on single readings counts every reading as independent evidence; wander makes
    neighbours alike and inflates t many times. The window is cut into ``_BLOCKS`` equal spans,
    the slope is fitted to the span means (white noise averages out), and t is shrunk for the
    lag-1 autocorrelation rho >= 0 of the span residuals by sqrt((1 - rho) / (1 + rho)), the
    effective sample size of an AR(1) series (Bartlett).
    """
    if len(tracker.points) < 2 * _BLOCKS:
        return 0.0
    arr = np.asarray(tracker.points, dtype=np.float64)
    # Readings near the float limits overflow the sums: no trend rather than a NaN.
    with np.errstate(all="ignore"):
        t_stat = _block_t_of(arr[:, 0], arr[:, 1])
    return 0.0 if math.isnan(t_stat) else t_stat


def _block_t_of(t: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    edges = np.linspace(t[0], t[-1], _BLOCKS + 1)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, _BLOCKS - 1)
    counts = np.bincount(idx, minlength=_BLOCKS)
    keep = counts > 0
    if int(keep.sum()) < _BLOCKS // 2:
        return 0.0
    bt = (np.bincount(idx, weights=t, minlength=_BLOCKS)[keep]) / counts[keep]
    by = (np.bincount(idx, weights=y, minlength=_BLOCKS)[keep]) / counts[keep]
    tc = bt - bt.mean()
    sxx = float(np.dot(tc, tc))
    if sxx <= 0:
        return 0.0
    slope = float(np.dot(tc, by - by.mean())) / sxx
    resid = by - by.mean() - slope * tc
    ss = float(np.dot(resid, resid))
    if not math.isfinite(ss):
        return 0.0
    if ss <= 0:
        return math.copysign(math.inf, slope) if slope else 0.0
    se = math.sqrt(ss / (bt.size - 2) / sxx)
    rho = min(max(float(np.dot(resid[1:], resid[:-1])) / ss, 0.0), 0.99)
    return slope / se * math.sqrt((1.0 - rho) / (1.0 + rho))


def rul_from_drifts(drifts: list[Drift], th: MachineThresholds) -> tuple[RulEstimate | None, str]:
    """RUL of the departing indicators towards their learned failure levels, or why it is unknown.

    Without a declared limit the only honest yardstick is a level at which this asset or its fleet
    actually failed (``thresholds.failure_levels``, with its basis); the shortest remaining life
    over the departing indicators that have one is returned. Otherwise ``(None, reason)``.
    """
    best: RulEstimate | None = None
    for d in drifts:
        failure = th.failure_levels.get(d.feature)
        if failure is None or d.fit is None or d.direction * (failure.value - d.baseline) <= 0:
            continue
        fit = d.fit
        if d.direction < 0:  # a falling indicator: the same arithmetic on its mirror image
            fit = fit.model_copy(
                update={
                    "intercept": -fit.intercept,
                    "slope": -fit.slope,
                    "t_stat": -fit.t_stat,
                    "level": -fit.level,
                }
            )
        rul = estimate_rul(
            fit,
            d.direction * failure.value,
            min_t=th.rising_t,
            horizon_h=th.rul_horizon_h,
        )
        if rul is not None and (best is None or rul.value < best.value):
            method = f"{rul.method} to {d.feature} = {failure.value:g} ({failure.basis})"
            best = rul.model_copy(update={"method": method})
    if best is not None:
        return best, ""
    names = ", ".join(sorted({d.feature for d in drifts}))
    return None, (
        f"unknown: {names} departs from this machine's baseline, but no limit and no failure "
        "level learned from history is declared for it (thresholds.failure_levels)"
    )


def directions_for(
    sensors: Iterable[Any], waveform_features: Iterable[str]
) -> dict[str, tuple[int, ...]]:
    """Feature -> directions judged, from each sensor's kind or its declared ``degrades``."""
    from agents.models import Degrades, SensorKind

    by_kind = {
        SensorKind.VIBRATION_VELOCITY: Degrades.RISE,
        SensorKind.TEMPERATURE: Degrades.RISE,
        SensorKind.CONDITION_INDICATOR: Degrades.EITHER,
        SensorKind.VIBRATION_ACCELERATION: Degrades.RISE,
    }
    signs = {Degrades.RISE: (1,), Degrades.FALL: (-1,), Degrades.EITHER: (1, -1)}
    out: dict[str, tuple[int, ...]] = {}
    feats = tuple(waveform_features)
    for s in sensors:
        way = s.degrades or by_kind.get(s.kind)
        if way is None:
            continue
        if s.kind is SensorKind.VIBRATION_ACCELERATION:
            for feat in feats:
                out[f"{s.name}.{feat}"] = signs[way]
        else:
            out[s.name] = signs[way]
    return out


__all__ = ["Drift", "DriftMonitor", "directions_for", "rul_from_drifts", "small_median"]
