from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main
from tests.agents.fleet_synth import synthetic_fleet, truncate_rows, write_cmapss, write_csv

REPO = Path(__file__).resolve().parents[2]


def run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run ``autoops`` in-process through its real entry point; return (exit code, out, err)."""
    monkeypatch.setattr(sys, "argv", ["autoops", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fleet() -> np.ndarray:
    return synthetic_fleet(n_units=18, seed=8)


@pytest.fixture(scope="module")
def csv_model(fleet: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Fit once through the CLI on a CSV fleet; return the model path and what fit printed."""
    root = tmp_path_factory.mktemp("cli")
    history = write_csv(fleet, root / "train.csv")
    model = root / "fleet.rul"
    # The installed console script, in a real process: what a user types.
    autoops = Path(sys.executable).parent / "autoops"
    cmd = [str(autoops), "prognostics", "fit", "--history", str(history), "--format", "csv"]
    cmd += ["--out", str(model), "--folds", "3"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return model, done.stdout


def test_fit_prints_grouped_cv_rmse_and_writes_the_model(csv_model: tuple[Path, str]) -> None:
    model, out = csv_model
    match = re.search(r"grouped-CV RMSE: ([0-9.]+) cycles", out)
    assert match, out
    assert 0 < float(match.group(1)) < 30
    assert "GroupKFold(3) by unit" in out
    assert (
        "sensor_" not in out and "s1," in out
    )  # dropped constant sensors are named as in the file
    assert model.exists() and model.stat().st_size > 0


def test_predict_json_gives_one_rul_per_unit(
    csv_model: tuple[Path, str],
    fleet: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lives = {int(u): int(fleet[fleet[:, 0] == u, 1].max()) for u in np.unique(fleet[:, 0])}
    running = write_csv(
        truncate_rows(fleet, {u: L - 20 for u, L in lives.items()}), tmp_path / "r.csv"
    )
    args = ["prognostics", "predict", "--model", str(csv_model[0]), "--history", str(running)]
    code, out, err = run([*args, "--format", "csv", "--json"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {f"engine-{u}" for u in lives}
    assert all(isinstance(v, float) and 0 <= v <= 125 for v in result.values())
    assert np.mean(list(result.values())) < 60  # every unit is 20 cycles from failure

    code, out, _ = run([*args, "--format", "csv", "--json", "--interval"], capsys, monkeypatch)
    assert code == 0
    first = next(iter(json.loads(out).values()))
    assert first["lower"] <= first["value"] <= first["upper"]


def test_cmapss_format_end_to_end(
    fleet: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = write_cmapss(fleet, tmp_path / "train.txt")
    model = tmp_path / "m.rul"
    fit = [
        "prognostics",
        "fit",
        "--history",
        str(history),
        "--format",
        "cmapss",
        "--out",
        str(model),
    ]
    code, out, err = run([*fit, "--folds", "2", "--json"], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(out)
    assert report["cv"]["n_folds"] == 2 and report["n_units"] == 18
    assert "sensor_1" in report["dropped"]
    code, out, err = run(
        ["prognostics", "predict", "--model", str(model), "--history", str(history), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert len(json.loads(out)) == 18


def test_bad_history_exits_nonzero_naming_row_and_column(
    csv_model: tuple[Path, str],
    fleet: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = write_csv(fleet[:40], tmp_path / "ok.csv").read_text().splitlines()
    cells = lines[12].split(",")
    cells[8] = "oops"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines[:12] + [",".join(cells)] + lines[13:]))
    for command in (
        ["fit", "--out", str(tmp_path / "never.rul")],
        ["predict", "--model", str(csv_model[0]), "--json"],
    ):
        code, out, err = run(
            ["prognostics", *command, "--history", str(bad), "--format", "csv"], capsys, monkeypatch
        )
        assert code == 2 and out == ""
        assert f"file {bad}, row 13, column 's4'" in err and "'oops' is not a number" in err
    assert not (tmp_path / "never.rul").exists()


def test_model_of_another_format_version_is_refused(
    fleet: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = write_cmapss(fleet[:300], tmp_path / "h.txt")
    old = tmp_path / "old.rul"
    with open(old, "wb") as fh:
        header = {"format": "autoops.prognostics.rul", "format_version": 99}
        np.savez(fh, header=np.array(json.dumps(header)))
    base = ["prognostics", "predict", "--history", str(history), "--json", "--model"]
    code, _, err = run([*base, str(old)], capsys, monkeypatch)
    assert code == 2 and "format version 99 is not supported" in err and "refit" in err
    code, _, err = run([*base, str(tmp_path / "missing.rul")], capsys, monkeypatch)
    assert code == 2 and "cannot read the model file" in err


def test_unknown_format_and_missing_options_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    history = write_cmapss(synthetic_fleet(n_units=3, seed=1), tmp_path / "h.txt")
    code, _, err = run(
        ["prognostics", "fit", "--history", str(history), "--format", "parquet", "--out", "x"],
        capsys,
        monkeypatch,
    )
    assert code == 2 and "unknown history format 'parquet'" in err
    code, _, err = run(["prognostics", "predict", "--history", str(history)], capsys, monkeypatch)
    assert code != 0 and "--model" in err


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_predict_with_a_crafted_pickle_runs_none_of_its_code(
    fleet: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = write_cmapss(fleet[:300], tmp_path / "h.txt")
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.rul"
    crafted.write_bytes(pickle.dumps(_RunsCode(marker)))
    args = ["prognostics", "predict", "--history", str(history), "--json", "--model", str(crafted)]
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "crafted.rul" in err and "is a pickle" in err and "Refit" in err
    assert not marker.exists()
