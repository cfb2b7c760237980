"""Row features for fleet RUL models: learned normalisation and trailing-window statistics.

Everything here is causal: the features of a row use only that row and the rows before it in the
same unit. So a unit cut off at any cycle gets exactly the features it had at that cycle in the
full history, which is what lets cross-validation score truncated trajectories without re-reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans

from agents.errors import InputError, ModelError
from agents.fleet_data import FleetHistory

#: A column whose spread (within every regime) is below this, relative to its level, carries no signal.
_CONSTANT_RTOL = 1e-6
#: Settings that cluster this tightly (share of variance left inside clusters) are discrete regimes.
_REGIME_INERTIA_SHARE = 0.02
_MAX_REGIMES = 8


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Which trailing statistics to compute per sensor."""

    mean_windows: tuple[int, ...] = (10,)
    slope_windows: tuple[int, ...] = (10,)
    baseline_cycles: int = 20  # the unit's own early-life level; units start with different wear
    with_baseline_delta: bool = True


@dataclass
class Normalizer:
    """Learned at fit time: which columns carry signal, the operating regimes, per-regime scaling."""

    sensors: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    regime_centers: np.ndarray | None = None  # regimes x settings (scaled); None = one regime
    setting_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    setting_std: np.ndarray = field(default_factory=lambda: np.ones(0))
    mean: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))  # regimes x sensors
    std: np.ndarray = field(default_factory=lambda: np.ones((1, 0)))

    @property
    def n_regimes(self) -> int:
        return 1 if self.regime_centers is None else len(self.regime_centers)

    def fit(self, history: FleetHistory) -> Normalizer:
        settings = [c for c in history.settings if c in history.columns]
        s_idx = [history.columns.index(c) for c in settings]
        s_vals = history.values[:, s_idx]
        varying = [i for i in range(len(settings)) if not _is_constant(s_vals[:, i])]
        self.settings = tuple(settings[i] for i in varying)
        self.setting_mean = s_vals[:, varying].mean(axis=0) if varying else np.zeros(0)
        self.setting_std = s_vals[:, varying].std(axis=0) if varying else np.ones(0)
        self.regime_centers = _find_regimes(self._scaled_settings(history)) if varying else None
        regime = self.regime_of(history)

        candidates = [c for c in history.columns if c not in settings]
        kept: list[str] = []
        dropped: list[str] = list(c for c in settings)
        for name in candidates:
            col = history.values[:, history.columns.index(name)]
            if all(
                _is_constant(col[regime == r]) for r in range(self.n_regimes) if np.any(regime == r)
            ):
                dropped.append(name)
            else:
                kept.append(name)
        if not kept:
            raise ModelError(
                f"{history.source}: every sensor column is constant; a RUL model needs sensors that change"
            )
        self.sensors = tuple(kept)
        self.dropped = tuple(dropped)
        raw = self._raw(history)
        self.mean = np.zeros((self.n_regimes, len(kept)))
        self.std = np.ones((self.n_regimes, len(kept)))
        for r in range(self.n_regimes):
            rows = raw[regime == r]
            if len(rows):
                self.mean[r] = rows.mean(axis=0)
                spread = rows.std(axis=0)
                self.std[r] = np.where(spread > 0, spread, 1.0)
        return self

    def _scaled_settings(self, history: FleetHistory) -> np.ndarray:
        idx = [history.columns.index(c) for c in self.settings]
        safe = np.where(self.setting_std > 0, self.setting_std, 1.0)
        return (history.values[:, idx] - self.setting_mean) / safe

    def regime_of(self, history: FleetHistory) -> np.ndarray:
        if self.regime_centers is None:
            return np.zeros(len(history.units), dtype=int)
        scaled = self._scaled_settings(history)
        # The nearest centre, as KMeans.predict; kept as plain arrays so a model file is data.
        distance = ((scaled[:, None, :] - self.regime_centers[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(distance, axis=1).astype(int)

    def _raw(self, history: FleetHistory) -> np.ndarray:
        missing = [c for c in (*self.sensors, *self.settings) if c not in history.columns]
        if missing:
            raise InputError(
                f"the model needs columns {missing} that the history does not have; "
                "use a history with the same columns as the training data",
                file=history.source,
                row=1,
                column=missing[0],
            )
        return history.values[:, [history.columns.index(c) for c in self.sensors]]

    def transform(self, history: FleetHistory) -> np.ndarray:
        """Sensors scaled per regime: 0 = the fleet's mean in that regime, 1 = one fleet std."""
        raw = self._raw(history)
        regime = self.regime_of(history)
        return (raw - self.mean[regime]) / self.std[regime]


def _is_constant(col: np.ndarray) -> bool:
    if len(col) < 2:
        return True
    return float(np.std(col)) <= _CONSTANT_RTOL * max(1.0, float(np.abs(np.mean(col))))


def _find_regimes(scaled: np.ndarray) -> np.ndarray | None:
    """Centres of discrete operating regimes if the settings cluster tightly (C-MAPSS FD002/FD004),
    else None."""
    total = float(((scaled - scaled.mean(axis=0)) ** 2).sum())
    if total <= 0 or len(scaled) < 2 * _MAX_REGIMES:
        return None
    sample = scaled[:: max(1, len(scaled) // 5000)]  # clustering a sample is enough and fast
    sample_total = float(((sample - sample.mean(axis=0)) ** 2).sum())
    for k in range(2, _MAX_REGIMES + 1):
        km = KMeans(n_clusters=k, n_init=3, random_state=0).fit(sample)
        if km.inertia_ <= _REGIME_INERTIA_SHARE * sample_total:
            return np.asarray(km.cluster_centers_, dtype=float)
    return None


def _rolling_mean(z: np.ndarray, w: int) -> np.ndarray:
    """Mean of the last ``min(w, i+1)`` rows at each row i."""
    c = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
    i = np.arange(1, len(z) + 1)
    lo = np.maximum(0, i - w)
    return (c[i] - c[lo]) / (i - lo)[:, None]


def _rolling_slope(z: np.ndarray, w: int) -> np.ndarray:
    """Least-squares slope per cycle over the last ``min(w, i+1)`` rows (0 with one row)."""
    t = np.arange(len(z), dtype=float)[:, None]
    cz = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
    ctz = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(t * z, axis=0)])
    ct = np.concatenate([[0.0], np.cumsum(t[:, 0])])
    ct2 = np.concatenate([[0.0], np.cumsum(t[:, 0] ** 2)])
    i = np.arange(1, len(z) + 1)
    lo = np.maximum(0, i - w)
    n = (i - lo).astype(float)
    st, st2 = ct[i] - ct[lo], ct2[i] - ct2[lo]
    sz, stz = cz[i] - cz[lo], ctz[i] - ctz[lo]
    denom = st2 - st * st / n
    num = stz - (st / n)[:, None] * sz
    safe = np.where(denom > 0, denom, 1.0)
    return np.where((denom > 0)[:, None], num / safe[:, None], 0.0)


def feature_names(sensors: tuple[str, ...], spec: WindowSpec) -> list[str]:
    names = ["cycles_seen"]
    names += [f"{s}:last" for s in sensors]
    names += [f"{s}:mean{w}" for w in spec.mean_windows for s in sensors]
    names += [f"{s}:slope{w}" for w in spec.slope_windows for s in sensors]
    if spec.with_baseline_delta:
        names += [f"{s}:delta_baseline" for s in sensors]
    return names


def window_features(history: FleetHistory, z: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """One feature row per history row, from that unit's rows up to and including it."""
    blocks: list[np.ndarray] = []
    for _, sl in history.unit_slices():
        zu = z[sl]
        cyc = history.cycles[sl]
        parts = [(cyc - cyc[0] + 1.0)[:, None], zu]
        parts += [_rolling_mean(zu, w) for w in spec.mean_windows]
        parts += [_rolling_slope(zu, w) for w in spec.slope_windows]
        if spec.with_baseline_delta:
            k = np.minimum(np.arange(1, len(zu) + 1), spec.baseline_cycles)
            baseline = np.cumsum(zu, axis=0)[k - 1] / k[:, None]
            recent = _rolling_mean(zu, max(spec.mean_windows, default=10))
            parts.append(recent - baseline)
        blocks.append(np.hstack(parts))
    if not blocks:
        return np.zeros((0, len(feature_names(tuple(str(i) for i in range(z.shape[1])), spec))))
    return np.vstack(blocks)
