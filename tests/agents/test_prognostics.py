from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from agents.errors import InputError, ModelError
from agents.fleet_data import read_cmapss, read_csv, read_history
from agents.prognostics import (
    MODEL_FORMAT,
    Estimator,
    RulConfig,
    RulModel,
    cross_validate,
    fit_with_cv,
    load_model,
    out_of_fold,
    save_model,
)
from tests.agents.fleet_synth import (
    CONSTANT_SENSORS,
    synthetic_fleet,
    truncate_rows,
    write_cmapss,
    write_csv,
)

FD001 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
)
FAST = RulConfig(n_splits=3, max_iter=120)


@pytest.fixture(scope="module")
def fleet_data() -> np.ndarray:
    return synthetic_fleet(n_units=24, seed=3)


@pytest.fixture(scope="module")
def fleet_file(fleet_data: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cmapss(fleet_data, tmp_path_factory.mktemp("fleet") / "train.txt")


@pytest.fixture(scope="module")
def fitted(fleet_file: Path) -> RulModel:
    return fit_with_cv(read_cmapss(fleet_file), FAST)


# --- readers -------------------------------------------------------------------------------------


def test_cmapss_and_csv_readers_agree(
    fleet_data: np.ndarray, fleet_file: Path, tmp_path: Path
) -> None:
    a = read_history(fleet_file, "cmapss")
    b = read_history(write_csv(fleet_data, tmp_path / "train.csv"), "csv")
    assert len(a.unit_slices()) == len(b.unit_slices()) == 24
    assert b.unit_ids[0] == "engine-1" and a.unit_ids[0] == "1"
    np.testing.assert_allclose(a.values, b.values)
    assert b.settings == ("setting_1", "setting_2", "setting_3")
    # RUL of the last row of every unit is 0 (the failure), of the first row its life - 1.
    rul = a.rul()
    assert all(rul[sl.stop - 1] == 0 for _, sl in a.unit_slices())


def _expect_input_error(path: Path, fmt: str, row: int | None, column: str | None) -> str:
    with pytest.raises(InputError) as info:
        read_history(path, fmt)
    err = info.value
    assert err.file == str(path)
    assert err.row == row and err.column == column
    text = str(err)
    assert str(path) in text
    return text


def test_bad_cmapss_files_name_row_and_column(fleet_file: Path, tmp_path: Path) -> None:
    lines = fleet_file.read_text().splitlines()

    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines[:3] + [" ".join(lines[3].split()[:20])] + lines[4:10]))
    assert "found 20" in _expect_input_error(short, "cmapss", 4, "sensor_16")

    word = tmp_path / "word.txt"
    cells = lines[6].split()
    cells[7] = "n/a"
    word.write_text("\n".join(lines[:6] + [" ".join(cells)] + lines[7:10]))
    assert "'n/a' is not a number" in _expect_input_error(word, "cmapss", 7, "sensor_3")

    nan = tmp_path / "nan.txt"
    cells = lines[2].split()
    cells[10] = "NaN"
    nan.write_text("\n".join(lines[:2] + [" ".join(cells)] + lines[3:10]))
    assert "not a finite number" in _expect_input_error(nan, "cmapss", 3, "sensor_6")

    back = tmp_path / "back.txt"
    back.write_text("\n".join(lines[:5] + [lines[2]] + lines[5:10]))
    text = _expect_input_error(back, "cmapss", 6, "cycle")
    assert "does not increase" in text and "unit '1'" in text

    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    assert "no data rows" in _expect_input_error(empty, "cmapss", None, None)


def test_bad_csv_files_name_row_and_column(fleet_data: np.ndarray, tmp_path: Path) -> None:
    good = write_csv(fleet_data[:50], tmp_path / "good.csv").read_text().splitlines()

    bad_header = tmp_path / "header.csv"
    bad_header.write_text("\n".join(["id,time,s1"] + good[1:]))
    assert "must start with 'unit,cycle'" in _expect_input_error(bad_header, "csv", 1, None)

    cells = good[9].split(",")
    cells[5] = "inf"
    inf = tmp_path / "inf.csv"
    inf.write_text("\n".join(good[:9] + [",".join(cells)] + good[10:]))
    _expect_input_error(inf, "csv", 10, "s1")

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join(good[:4] + [good[4] + ",7"] + good[5:]))
    assert "found 27" in _expect_input_error(ragged, "csv", 5, "s21")

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty file" in _expect_input_error(empty, "csv", 1, None)


# --- model ---------------------------------------------------------------------------------------


def test_constant_sensors_are_learned_and_dropped(fitted: RulModel) -> None:
    assert fitted.info is not None
    dropped = set(fitted.info.dropped)
    assert {f"sensor_{i}" for i in CONSTANT_SENSORS} <= dropped
    assert all(f"sensor_{i}" not in fitted.info.sensors for i in CONSTANT_SENSORS)
    assert "sensor_3" in fitted.info.sensors and fitted.info.n_regimes == 1


def test_operating_regimes_are_found_from_the_settings(tmp_path: Path) -> None:
    data = synthetic_fleet(n_units=12, seed=5, regimes=3)
    model = RulModel(FAST).fit(read_cmapss(write_cmapss(data, tmp_path / "r.txt")))
    assert model.normalizer.n_regimes == 3


def test_cv_on_synthetic_fleet_is_finite_and_interval_brackets(fitted: RulModel) -> None:
    assert fitted.info is not None and fitted.info.cv is not None
    cv = fitted.info.cv
    assert cv.n_units == 24 and cv.n_folds == 3 and cv.n_points == 24 * 5
    assert np.isfinite(cv.rmse) and 0 < cv.rmse < 30
    assert cv.rmse_uncapped >= cv.rmse - 1e-9  # the cap can only hide error, never add it
    assert fitted.intervals is not None and fitted.intervals.coverage == 0.8


def test_out_of_fold_never_sees_the_unit_it_predicts(fleet_file: Path) -> None:
    history = read_cmapss(fleet_file)
    oof = out_of_fold(history, FAST)
    # A model fitted on all units scores its own training rows better than the honest CV does.
    own = RulModel(FAST).fit(history).predict_rows(history)
    target = np.minimum(history.rul(), FAST.cap)
    assert np.all(np.isfinite(oof))
    assert np.sqrt(np.mean((own - target) ** 2)) < np.sqrt(np.mean((oof - target) ** 2))


def test_prediction_uses_only_the_past(fitted: RulModel, fleet_file: Path) -> None:
    history = read_cmapss(fleet_file)
    full = fitted.predict_rows(history)
    keep = {
        u: min(40 + 7 * i, sl.stop - sl.start) for i, (u, sl) in enumerate(history.unit_slices())
    }
    cut = fitted.predict_last(history.truncate(keep))
    for unit, sl in history.unit_slices():
        assert cut[unit].value == pytest.approx(full[sl.start + keep[unit] - 1], abs=0.01)


def test_truncated_units_closer_to_failure_get_lower_rul(fitted: RulModel, tmp_path: Path) -> None:
    unseen = synthetic_fleet(n_units=16, seed=11)
    lives = {int(u): int(unseen[unseen[:, 0] == u, 1].max()) for u in np.unique(unseen[:, 0])}
    near = read_cmapss(
        write_cmapss(
            truncate_rows(unseen, {u: L - 15 for u, L in lives.items()}), tmp_path / "n.txt"
        )
    )
    far = read_cmapss(
        write_cmapss(
            truncate_rows(unseen, {u: L - 90 for u, L in lives.items()}), tmp_path / "f.txt"
        )
    )
    near_rul = fitted.predict_last(near)
    far_rul = fitted.predict_last(far)
    assert set(near_rul) == set(far_rul) == {str(u) for u in lives}  # one value per unit
    assert np.mean([e.value for e in near_rul.values()]) + 30 < np.mean(
        [e.value for e in far_rul.values()]
    )
    assert np.sqrt(np.mean([(e.value - 15) ** 2 for e in near_rul.values()])) < 20
    for est in [*near_rul.values(), *far_rul.values()]:
        assert 0 <= est.lower <= est.value <= est.upper and est.unit == "cycles"


def test_saved_model_predicts_the_same_and_other_versions_are_refused(
    fitted: RulModel, fleet_file: Path, tmp_path: Path
) -> None:
    history = read_cmapss(fleet_file)
    path = tmp_path / "m.rul"
    save_model(fitted, path)
    again = load_model(path)
    assert again.predict_last(history) == fitted.predict_last(history)
    np.testing.assert_array_equal(again.predict_rows(history), fitted.predict_rows(history))
    assert again.info == fitted.info and again.intervals == fitted.intervals

    old = tmp_path / "old.rul"
    with open(old, "wb") as fh:
        header = {"format": MODEL_FORMAT, "format_version": 0, "features": []}
        np.savez(fh, header=np.array(json.dumps(header)))
    with pytest.raises(ModelError, match="format version 0 is not supported.*refit"):
        load_model(old)
    with pytest.raises(ModelError, match="not an autoops RUL model file"):
        load_model(fleet_file)


class _RunsCode:
    """Unpickling this creates ``marker``: what a crafted model file would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_crafted_pickle_model_runs_no_code_and_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.rul"
    crafted.write_bytes(pickle.dumps(_RunsCode(marker), protocol=pickle.HIGHEST_PROTOCOL))
    with pytest.raises(ModelError, match="is a pickle.*not loaded.*Refit"):
        load_model(crafted)
    assert not marker.exists()

    # The same payload as an object array inside an .npz: NumPy would unpickle it if allowed.
    inside = tmp_path / "inside.rul"
    with open(inside, "wb") as fh:
        header = np.array(json.dumps({"format": MODEL_FORMAT, "format_version": 2}))
        np.savez(fh, header=header, tree_value=np.array([_RunsCode(marker)], dtype=object))
    with pytest.raises(ModelError, match="inside.rul: not an autoops RUL model file"):
        load_model(inside)
    assert not marker.exists()


def test_a_damaged_model_file_is_a_clear_error(fitted: RulModel, tmp_path: Path) -> None:
    path = tmp_path / "m.rul"
    save_model(fitted, path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["tree_left"] = arrays["tree_left"].copy()
    arrays["tree_left"][0] = 10**9  # a child far outside its tree
    broken = tmp_path / "broken.rul"
    with open(broken, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(
        ModelError, match="broken.rul: the model in this file cannot be loaded.*child"
    ):
        load_model(broken)
    truncated = tmp_path / "truncated.rul"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated.rul: not an autoops RUL model file"):
        load_model(truncated)


@pytest.mark.parametrize("estimator", [Estimator.HGB, Estimator.RF])
def test_the_saved_trees_predict_exactly_as_scikit_learn(
    estimator: Estimator, tmp_path: Path
) -> None:
    # Three operating regimes: the saved normaliser's regime centres must assign rows alike too.
    history = read_cmapss(
        write_cmapss(synthetic_fleet(n_units=12, seed=5, regimes=3), tmp_path / "r.txt")
    )
    model = RulModel(RulConfig(estimator=estimator, max_iter=40)).fit(history)
    path = tmp_path / f"{estimator.value}.rul"
    save_model(model, path)
    again = load_model(path)
    assert again.normalizer.n_regimes == 3
    np.testing.assert_array_equal(again.predict_rows(history), model.predict_rows(history))


def test_history_missing_a_model_column_is_refused(
    fitted: RulModel, fleet_data: np.ndarray, tmp_path: Path
) -> None:
    path = write_csv(fleet_data[:300], tmp_path / "x.csv")
    with pytest.raises(InputError, match="needs columns"):
        fitted.predict_last(read_csv(path))  # csv columns are s1.., the model knows sensor_1..


def test_too_few_units_for_the_folds_is_a_clear_error(
    fleet_data: np.ndarray, tmp_path: Path
) -> None:
    two = read_cmapss(write_cmapss(fleet_data[fleet_data[:, 0] <= 2], tmp_path / "two.txt"))
    with pytest.raises(ModelError, match="fewer than the 3 CV folds"):
        cross_validate(two, FAST)


# --- the real C-MAPSS FD001 training file ------------------------------------------------------


@pytest.fixture(scope="module")
def fd001() -> object:
    if not FD001.exists():
        pytest.skip(
            f"C-MAPSS FD001 not found at {FD001} (shared data is not part of the repository)"
        )
    return read_cmapss(FD001)


@pytest.mark.slow
def test_fd001_grouped_cv_and_truncated_holdout(fd001: object) -> None:
    from agents.fleet_data import FleetHistory

    assert isinstance(fd001, FleetHistory)
    rng = np.random.default_rng(42)
    held = set(rng.choice(fd001.unit_ids, size=20, replace=False).tolist())
    train = fd001.select_units([u for u in fd001.unit_ids if u not in held])
    model = fit_with_cv(train, RulConfig())
    assert model.info is not None and model.info.cv is not None
    cv = model.info.cv
    assert cv.n_units == 80 and np.isfinite(cv.rmse) and cv.rmse < 20

    test = fd001.select_units(held)
    lives = {u: sl.stop - sl.start for u, sl in test.unit_slices()}
    keep = {u: int(rng.integers(max(31, n - 150), n + 1)) for u, n in lives.items()}
    estimates = model.predict_last(test.truncate(keep))
    assert set(estimates) == held
    truth = np.array([min(lives[u] - keep[u], 125) for u in estimates])
    pred = np.array([e.value for e in estimates.values()])
    assert np.sqrt(np.mean((pred - truth) ** 2)) < 25
    near = np.mean(pred[truth < 50]) if np.any(truth < 50) else 0.0
    assert near < np.mean(pred[truth >= 50])
