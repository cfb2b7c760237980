"""Fleet RUL model: compare variants by grouped CV, time the fit, check on held-out truncated units.

Run from the repository root (reads ``../shared/data/cmapss/train_FD001.txt``; not copied here):

    .venv/bin/python benchmarks/bench_prognostics.py [--quick]

Prints one line per variant (grouped-CV figures at truncation points), then a holdout check:
20 units never seen by the model, each cut off at a random cycle, RUL predicted at the last row
through the same path as ``autoops prognostics predict``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.fleet_data import read_history  # noqa: E402
from agents.prognostics import (  # noqa: E402
    Estimator,
    RulConfig,
    cross_validate,
    fit_with_cv,
    phm08_score,
)

DATA = ROOT.parent / "shared" / "data" / "cmapss" / "train_FD001.txt"

# Variants tried, all scored by the same grouped CV; the default won on "all-rows" and on the
# truncation points (see reports/prognostics.md). The random forest is slow: --all only.
VARIANTS: dict[str, RulConfig] = {
    "hgb default (last, mean10, slope10, baseline delta, leaf 100)": RulConfig(),
    "hgb leaf 40": RulConfig(min_samples_leaf=40),
    "hgb without baseline delta": RulConfig(with_baseline_delta=False),
    "hgb mean5/10, slope10, leaf 40": RulConfig(mean_windows=(5, 10), min_samples_leaf=40),
    "hgb mean5/10/20, slope10/20, leaf 40": RulConfig(
        mean_windows=(5, 10, 20), slope_windows=(10, 20), min_samples_leaf=40
    ),
    "hgb mean5/15/30, slope15/40, leaf 40": RulConfig(
        mean_windows=(5, 15, 30), slope_windows=(15, 40), min_samples_leaf=40
    ),
    "hgb 150 rounds": RulConfig(max_iter=150),
}
SLOW_VARIANTS: dict[str, RulConfig] = {
    "random forest (150 trees, default features)": RulConfig(estimator=Estimator.RF),
}


def holdout_check(seed: int = 7, n_holdout: int = 20) -> None:
    history = read_history(DATA, "cmapss")
    rng = np.random.default_rng(seed)
    units = history.unit_ids
    held = set(rng.choice(units, size=n_holdout, replace=False).tolist())
    train = history.select_units([u for u in units if u not in held])
    test = history.select_units(held)
    started = time.perf_counter()
    model = fit_with_cv(train, RulConfig())
    fit_s = time.perf_counter() - started
    # Cut every held-out unit at a random cycle: >= 31 cycles observed, <= 150 cycles before failure.
    keep: dict[str, int] = {}
    true: dict[str, float] = {}
    for unit, sl in test.unit_slices():
        n = sl.stop - sl.start
        lo, hi = min(31, n), n
        lo = max(lo, n - 150)
        k = int(rng.integers(lo, hi + 1))
        keep[unit] = k
        true[unit] = float(n - k)
    estimates = model.predict_last(test.truncate(keep))
    pred = np.array([estimates[u].value for u in keep])
    truth = np.array([true[u] for u in keep])
    capped = np.minimum(truth, model.config.cap)
    inside = np.mean([estimates[u].lower <= min(true[u], 125) <= estimates[u].upper for u in keep])
    print(
        f"holdout {n_holdout} units (seed {seed}), fit with CV on the other {len(units) - n_holdout}: "
        f"{fit_s:.1f} s; RMSE capped {np.sqrt(np.mean((pred - capped) ** 2)):.2f}, "
        f"uncapped {np.sqrt(np.mean((pred - truth) ** 2)):.2f}, "
        f"PHM08 score {phm08_score(pred, capped):.1f}, "
        f"{inside:.0%} of true RUL inside the {model.config.interval_coverage:.0%} interval"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default variant and holdout only")
    parser.add_argument("--all", action="store_true", help="also the slow random forest variant")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found: the C-MAPSS training file lives in ../shared/data/cmapss/")
    history = read_history(DATA, "cmapss")
    variants = dict(list(VARIANTS.items())[:1]) if args.quick else dict(VARIANTS)
    if args.all:
        variants.update(SLOW_VARIANTS)
    for name, config in variants.items():
        report, _ = cross_validate(history, config)
        print(
            f"{name:64s} RMSE {report.rmse:6.2f}  uncapped {report.rmse_uncapped:6.2f}  "
            f"all-rows {report.rmse_all_rows:6.2f}  PHM08/100 {report.phm08_score_per_100_units:7.1f}  "
            f"({report.n_points} points, {report.seconds:.1f} s)"
        )
    holdout_check()


if __name__ == "__main__":
    main()
