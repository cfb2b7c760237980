"""Fleet prognostics: a remaining-useful-life model fitted on run-to-failure histories of many units.

The model is classical and CPU-only (scikit-learn, seconds to fit):

* target: piecewise-linear RUL, ``min(last cycle - cycle, cap)``; early life is "healthy, at least
  ``cap`` cycles left" because nothing in the sensors tells 300 from 200 cycles apart;
* inputs: sensors that are not constant in the training data, scaled per operating regime
  (``agents.rul_features``), summarised over trailing windows of the unit's own history;
* estimator: histogram gradient boosting (default) or a random forest;
* cross-validation grouped by unit, scored where it will be judged: at the *last* row of units cut
  off before failure (random truncation points of each held-out unit); the out-of-fold residuals
  there also give the prediction interval.

Model files are data, not pickles (``save_model``): a NumPy ``.npz`` holding a JSON header and the
fitted normaliser and trees as arrays (``agents.tree_ensemble``), read with pickling refused, so a
crafted file can be wrong but cannot run code.
"""

from __future__ import annotations

import json
import time
import zipfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from pydantic import BaseModel, ConfigDict, Field
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from agents.errors import ModelError
from agents.fleet_data import FleetHistory
from agents.models import RulEstimate
from agents.rul_features import Normalizer, WindowSpec, feature_names, window_features
from agents.tree_ensemble import NODE_ARRAYS, TreeEnsemble, from_sklearn

MODEL_FORMAT = "autoops.prognostics.rul"
#: 2: arrays and JSON in an .npz (1 was a pickle and is refused: unpickling runs code).
MODEL_FORMAT_VERSION = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Estimator(StrEnum):
    HGB = "hgb"  # HistGradientBoostingRegressor
    RF = "rf"  # RandomForestRegressor


class RulConfig(_Frozen):
    """How to build and cross-validate the model. Defaults were chosen by grouped CV on FD001."""

    cap: float = Field(default=125.0, gt=0)
    estimator: Estimator = Estimator.HGB
    mean_windows: tuple[int, ...] = (10,)
    slope_windows: tuple[int, ...] = (10,)
    baseline_cycles: int = Field(default=20, ge=1)
    with_baseline_delta: bool = True
    learning_rate: float = Field(default=0.05, gt=0)  # hgb
    max_iter: int = Field(default=300, ge=1)  # hgb boosting rounds / rf trees
    min_samples_leaf: int = Field(default=100, ge=1)
    n_splits: int = Field(default=5, ge=2)
    cuts_per_unit: int = Field(default=5, ge=1)  # random truncation points scored per held-out unit
    min_history: int = Field(default=31, ge=1)  # shortest trajectory scored (FD001 test minimum)
    max_rul_scored: float = Field(
        default=150.0, gt=0
    )  # FD001 test engines stop <= 145 before failure
    interval_coverage: float = Field(default=0.8, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # numpy / scikit-learn seeds are uint32
    # Threads for the estimator. One by default: on a shared 2-core machine OpenMP threads that
    # wait for each other under load made a fit 5-10x slower than a single thread.
    n_jobs: int = Field(default=1, ge=1)

    @property
    def windows(self) -> WindowSpec:
        return WindowSpec(
            mean_windows=self.mean_windows,
            slope_windows=self.slope_windows,
            baseline_cycles=self.baseline_cycles,
            with_baseline_delta=self.with_baseline_delta,
        )


class CvReport(_Frozen):
    """Grouped cross-validation figures; RUL in cycles, true RUL capped like the target."""

    protocol: str
    n_units: int
    n_folds: int
    n_points: int  # truncation points scored
    rmse: float  # at truncation points against capped true RUL (the headline figure)
    rmse_uncapped: float  # same points against the true RUL as it is
    mae: float
    phm08_score: float  # PHM08 asymmetric score summed over the truncation points
    phm08_score_per_100_units: float  # same, scaled to 100 predictions (FD001 test size)
    rmse_all_rows: float  # every held-out row whose true RUL <= cap
    seconds: float


class IntervalTable(_Frozen):
    """Residual quantiles (true - predicted) of out-of-fold predictions, per band of predicted RUL."""

    upper_edges: tuple[float, ...]  # band i holds predictions < upper_edges[i]; the last is open
    low: tuple[float, ...]
    high: tuple[float, ...]
    coverage: float

    def interval(self, value: float) -> tuple[float, float]:
        band = next((i for i, e in enumerate(self.upper_edges) if value < e), len(self.low) - 1)
        return max(0.0, value + min(0.0, self.low[band])), value + max(0.0, self.high[band])


class TrainingInfo(_Frozen):
    """What a saved model was trained on and how well it did; travels inside the model file."""

    source: str
    n_units: int
    n_rows: int
    sensors: tuple[str, ...]
    dropped: tuple[str, ...]
    n_regimes: int
    config: RulConfig
    cv: CvReport | None = None
    fit_seconds: float
    trained_at: datetime | None = None
    sklearn_version: str = sklearn.__version__


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 challenge score: late predictions (pred > true) cost more than early ones."""
    d = np.asarray(pred, dtype=float) - np.asarray(true, dtype=float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def _make_estimator(config: RulConfig) -> Any:
    if config.estimator is Estimator.RF:
        return RandomForestRegressor(
            n_estimators=config.max_iter // 2,
            min_samples_leaf=max(1, config.min_samples_leaf // 5),
            max_features=0.33,
            n_jobs=config.n_jobs,
            random_state=config.seed,
        )
    return HistGradientBoostingRegressor(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=31,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=1.0,
        early_stopping=False,  # deterministic and the same work in every fold
        random_state=config.seed,
    )


class RulModel:
    """Fitted normaliser + estimator; predicts capped RUL (cycles) per row or per unit."""

    def __init__(self, config: RulConfig | None = None) -> None:
        self.config = config or RulConfig()
        self.normalizer = Normalizer()
        self.estimator: Any = None
        self.features: tuple[str, ...] = ()
        self.intervals: IntervalTable | None = None
        self.info: TrainingInfo | None = None

    def features_of(self, history: FleetHistory) -> np.ndarray:
        return window_features(history, self.normalizer.transform(history), self.config.windows)

    def fit(
        self,
        history: FleetHistory,
        *,
        cv: CvReport | None = None,
        intervals: IntervalTable | None = None,
        trained_at: datetime | None = None,
    ) -> RulModel:
        """Fit on every row of run-to-failure ``history`` (each unit's last row is its failure)."""
        started = time.perf_counter()
        if len(history.unit_slices()) < 2:
            raise ModelError(f"{history.source}: need run-to-failure histories of at least 2 units")
        self.normalizer = Normalizer().fit(history)
        self.features = tuple(feature_names(self.normalizer.sensors, self.config.windows))
        target = np.minimum(history.rul(), self.config.cap)
        with threadpool_limits(limits=self.config.n_jobs, user_api="openmp"):
            self.estimator = _make_estimator(self.config).fit(self.features_of(history), target)
        self.intervals = intervals
        self.info = TrainingInfo(
            source=history.source,
            n_units=len(history.unit_slices()),
            n_rows=len(history.units),
            sensors=self.normalizer.sensors,
            dropped=self.normalizer.dropped,
            n_regimes=self.normalizer.n_regimes,
            config=self.config,
            cv=cv,
            fit_seconds=round(time.perf_counter() - started, 3),
            trained_at=trained_at,
        )
        return self

    def predict_rows(self, history: FleetHistory) -> np.ndarray:
        """Predicted RUL at every row, from that row's trailing history; within [0, cap]."""
        if self.estimator is None:
            raise ModelError("the RUL model is not fitted; call fit() or load a model file")
        if len(history.units) == 0:
            return np.zeros(0)
        with threadpool_limits(limits=self.config.n_jobs, user_api="openmp"):
            raw = self.estimator.predict(self.features_of(history))
        return np.clip(raw, 0.0, self.config.cap)

    def predict_last(self, history: FleetHistory) -> dict[str, RulEstimate]:
        """RUL at the last row of every unit, with the CV-derived interval when the model has one."""
        rows = self.predict_rows(history)
        out: dict[str, RulEstimate] = {}
        for unit, sl in history.unit_slices():
            value = float(rows[sl.stop - 1])
            lo, hi = self.intervals.interval(value) if self.intervals else (value, value)
            out[unit] = RulEstimate(
                value=round(value, 2),
                lower=round(min(lo, value), 2),
                upper=round(max(hi, value), 2),
                unit="cycles",
                method=f"fleet-{self.config.estimator.value}",
            )
        return out


def truncation_points(history: FleetHistory, config: RulConfig) -> np.ndarray:
    """Row indices where held-out units are 'cut off', like engines still running when judged.

    Random and seeded; at least ``min_history`` cycles observed and at most ``max_rul_scored``
    cycles before failure (a unit too short for both is cut at its last eligible row).
    """
    rng = np.random.default_rng(config.seed)
    picks: list[np.ndarray] = []
    rul = history.rul()
    for _, sl in history.unit_slices():
        rows = np.arange(sl.start, sl.stop)
        first = min(config.min_history, len(rows)) - 1
        eligible = rows[first:][rul[rows[first:]] <= config.max_rul_scored]
        if len(eligible) == 0:
            eligible = rows[first : first + 1]
        k = min(config.cuts_per_unit, len(eligible))
        picks.append(np.sort(rng.choice(eligible, size=k, replace=False)))
    return np.concatenate(picks) if picks else np.array([], dtype=int)


def _interval_table(pred: np.ndarray, true: np.ndarray, config: RulConfig) -> IntervalTable:
    edges = tuple(config.cap * f for f in (0.25, 0.5, 0.75)) + (float("inf"),)
    alpha = (1.0 - config.interval_coverage) / 2.0
    resid = true - pred
    low: list[float] = []
    high: list[float] = []
    lower_edge = -np.inf
    for edge in edges:
        band = resid[(pred >= lower_edge) & (pred < edge)]
        band = band if len(band) >= 10 else resid  # too few points: use the overall spread
        low.append(round(float(np.quantile(band, alpha)), 3))
        high.append(round(float(np.quantile(band, 1.0 - alpha)), 3))
        lower_edge = edge
    return IntervalTable(
        upper_edges=edges, low=tuple(low), high=tuple(high), coverage=config.interval_coverage
    )


def out_of_fold(history: FleetHistory, config: RulConfig | None = None) -> np.ndarray:
    """Predicted RUL at every row by a model that never saw that row's unit (grouped K-fold)."""
    config = config or RulConfig()
    n_units = len(history.unit_slices())
    if n_units < config.n_splits:
        raise ModelError(
            f"{history.source}: {n_units} units is fewer than the {config.n_splits} CV folds; "
            "give more run-to-failure units or fewer folds"
        )
    oof = np.full(len(history.units), np.nan)
    splitter = GroupKFold(n_splits=config.n_splits)
    for train_idx, test_idx in splitter.split(oof, groups=history.units):
        model = RulModel(config).fit(history.take(train_idx))
        oof[test_idx] = model.predict_rows(history.take(test_idx))
    return oof


def cross_validate(
    history: FleetHistory, config: RulConfig | None = None
) -> tuple[CvReport, IntervalTable]:
    """Grouped CV figures at truncation points, and the interval table from their residuals."""
    config = config or RulConfig()
    started = time.perf_counter()
    oof = out_of_fold(history, config)
    rul = history.rul()
    true = np.minimum(rul, config.cap)
    cuts = truncation_points(history, config)
    pred, truth = oof[cuts], true[cuts]
    score = phm08_score(pred, truth)
    all_rows = rul <= config.cap
    report = CvReport(
        protocol=(
            f"GroupKFold({config.n_splits}) by unit; each held-out unit cut off at "
            f"{config.cuts_per_unit} random points (seed {config.seed}) with at least "
            f"{config.min_history} cycles observed and true RUL <= {config.max_rul_scored:g}; "
            f"RUL predicted from the trailing history only, true RUL capped at {config.cap:g}"
        ),
        n_units=len(history.unit_slices()),
        n_folds=config.n_splits,
        n_points=len(cuts),
        rmse=_rmse(pred, truth),
        rmse_uncapped=_rmse(pred, rul[cuts]),
        mae=round(float(np.mean(np.abs(pred - truth))), 3),
        phm08_score=round(score, 1),
        phm08_score_per_100_units=round(score * 100.0 / max(1, len(cuts)), 1),
        rmse_all_rows=_rmse(oof[all_rows], true[all_rows]),
        seconds=round(time.perf_counter() - started, 2),
    )
    return report, _interval_table(pred, truth, config)


def _rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return round(float(np.sqrt(np.mean((pred - true) ** 2))), 3)


def fit_with_cv(
    history: FleetHistory, config: RulConfig | None = None, *, trained_at: datetime | None = None
) -> RulModel:
    """Cross-validate (figures and interval), then fit the final model on every unit."""
    config = config or RulConfig()
    report, intervals = cross_validate(history, config)
    return RulModel(config).fit(history, cv=report, intervals=intervals, trained_at=trained_at)


#: The first bytes of a pickle (protocol 2+) and of a zip archive (an ``.npz``).
_PICKLE_MAGIC = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"
_NOT_A_MODEL = "not an autoops RUL model file; make one with 'autoops prognostics fit'"
_NORMALIZER_ARRAYS = ("setting_mean", "setting_std", "mean", "std")


def save_model(model: RulModel, path: str | Path) -> None:
    """Write the model as data: a NumPy ``.npz`` of arrays plus a JSON header, no pickle anywhere."""
    if model.info is None or model.estimator is None:
        raise ModelError("cannot save an unfitted RUL model; fit it first")
    trees = (
        model.estimator
        if isinstance(model.estimator, TreeEnsemble)
        else from_sklearn(model.estimator)
    )
    norm = model.normalizer
    header = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "features": list(model.features),
        "info": model.info.model_dump(mode="json"),
        "normalizer": {"sensors": norm.sensors, "dropped": norm.dropped, "settings": norm.settings},
        "trees": trees.meta(),
        # json (not pydantic's JSON mode) keeps the open last band's edge, inf, as Infinity.
        "intervals": model.intervals.model_dump() if model.intervals else None,
    }
    arrays = {f"tree_{name}": a for name, a in trees.arrays().items()}
    arrays |= {f"normalizer_{name}": np.asarray(getattr(norm, name)) for name in _NORMALIZER_ARRAYS}
    if norm.regime_centers is not None:
        arrays["normalizer_regime_centers"] = norm.regime_centers
    with open(path, "wb") as fh:
        np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)


def _read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a model file, read with pickling refused (a file is data, never code)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
            if magic.startswith(_PICKLE_MAGIC):
                raise ModelError(
                    f"{path}: this is a pickle (a model file from an older autoops, or not a model "
                    "at all); it is not loaded because unpickling runs code from the file. Refit "
                    "the model with 'autoops prognostics fit'"
                )
            if magic != _ZIP_MAGIC:
                raise ModelError(f"{path}: {_NOT_A_MODEL}")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: {_NOT_A_MODEL} ({exc})") from None


def read_model_header(path: str | Path) -> dict[str, Any]:
    """The header of a model file, checked for format and version before anything else is used."""
    return _checked_header(path, _read_arrays(path))


def _checked_header(path: str | Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.get("header")
    try:
        header = json.loads(str(raw[()])) if raw is not None and raw.dtype.kind == "U" else None
    except (ValueError, IndexError):
        header = None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path}: {_NOT_A_MODEL}")
    version = header.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelError(
            f"{path}: model file format version {version} is not supported by this autoops "
            f"(expects {MODEL_FORMAT_VERSION}); refit it with 'autoops prognostics fit'"
        )
    return header


def load_model(path: str | Path) -> RulModel:
    """Load a model written by ``save_model``; refuses other formats and versions, never unpickles."""
    arrays = _read_arrays(path)
    header = _checked_header(path, arrays)
    try:
        info = TrainingInfo.model_validate(header["info"])
        model = RulModel(info.config)
        norm = header["normalizer"]
        centers = arrays.get("normalizer_regime_centers")
        model.normalizer = Normalizer(
            sensors=tuple(str(s) for s in norm["sensors"]),
            dropped=tuple(str(s) for s in norm["dropped"]),
            settings=tuple(str(s) for s in norm["settings"]),
            regime_centers=None if centers is None else centers.astype(float),
            **{name: arrays[f"normalizer_{name}"].astype(float) for name in _NORMALIZER_ARRAYS},
        )
        model.estimator = TreeEnsemble.from_data(
            header["trees"], {name: arrays[f"tree_{name}"] for name in NODE_ARRAYS}
        )
        intervals = header.get("intervals")
        model.intervals = IntervalTable.model_validate(intervals) if intervals else None
        model.features = tuple(str(f) for f in header["features"])
        model.info = info
    except ModelError as exc:
        raise ModelError(
            f"{path}: the model in this file cannot be loaded ({exc}); refit it"
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(
            f"{path}: the model in this file cannot be loaded ({type(exc).__name__}: {exc}); refit it"
        ) from None
    expected = feature_names(model.normalizer.sensors, model.config.windows)
    if list(model.features) != expected or model.estimator.n_features != len(expected):
        raise ModelError(
            f"{path}: the model does not match its header; the file is damaged, refit it"
        )
    return model
