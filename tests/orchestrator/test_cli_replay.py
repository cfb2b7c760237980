from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main

ASSET = """\
id = "press-7"
name = "hydraulic press 7"
machine_group = "group2"
foundation = "rigid"
commissioning_readings = 20

[[sensors]]
name = "oil_temp"
kind = "temperature"
unit = "degC"
min = -20
max = 150

[[sensors]]
name = "wear_ci"          # a generic condition indicator from the press controller
kind = "condition_indicator"
unit = "score"

[thresholds.limits.wear_ci]
amber = 2.0
red = 4.0
"""

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
STEP_S = 600  # one reading every 10 minutes
HEALTHY = 60  # readings before the indicator starts to climb
ROWS = 100


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


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    """An asset file and 100 readings: steady, then the wear indicator climbs past red."""
    rng = np.random.default_rng(0)
    lines = ["time,oil_temp,wear_ci"]
    for i in range(ROWS):
        wear = 0.5 + rng.normal(0, 0.05) + max(0, i - HEALTHY) * 0.1
        lines.append(f"{T0 + STEP_S * i},{45 + rng.normal(0, 0.3):.2f},{wear:.3f}")
    asset, readings = tmp_path / "press.toml", tmp_path / "press.csv"
    asset.write_text(ASSET)
    readings.write_text("\n".join(lines) + "\n")
    return asset, readings


def reports(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_one_report_per_reading_and_the_wear_is_seen(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, readings = files
    code, out, err = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    got = reports(out)
    assert len(got) == ROWS
    assert [r["report_id"] for r in got[:3]] == ["press-7:0", "press-7:1", "press-7:2"]
    assert got[1]["time"] == "2026-01-01T00:10:00Z"
    statuses = [r["status"] for r in got]
    assert set(statuses[:HEALTHY]) == {"green"}  # no alarm while the press is healthy
    assert statuses[-1] == "red"  # the indicator passed its red limit
    first_amber = statuses.index("amber")
    assert HEALTHY < first_amber < statuses.index("red")
    assert not got[0]["baseline_ready"] and got[-1]["baseline_ready"]


@pytest.mark.parametrize(
    ("option", "value", "ready_from"),
    [("--commissioning-readings", "30", 29), ("--commissioning-hours", "4", 24)],
)
def test_commissioning_window_from_the_command_line(
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
    value: str,
    ready_from: int,
) -> None:
    asset, readings = files
    code, out, err = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json", option, value],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    ready = [r["baseline_ready"] for r in reports(out)]
    # 4 h at one reading per 10 min: the 25th reading (index 24) closes the window.
    assert ready.index(True) == ready_from
    assert all(ready[ready_from:])


def test_text_output_for_people(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, readings = files
    code, out, _ = run(
        ["replay", "--asset", str(asset), "--readings", str(readings)], capsys, monkeypatch
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("2026-01-01T00:00:00+00:00 green")
    assert lines[-1] == f"{ROWS} readings of press-7 replayed"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("1767260000,45.1,lots", "row 60, column 'wear_ci': value 'lots' is not a number"),
        ("1767225600,45.1,0.5", "row 60, column 'time': timestamp"),
    ],
)
def test_bad_row_stops_before_any_report(
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    row: str,
    expected: str,
) -> None:
    asset, readings = files
    lines = readings.read_text().splitlines()
    lines[59] = row  # file line 60
    readings.write_text("\n".join(lines) + "\n")
    code, out, err = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert out == ""
    assert f"file {readings}" in err and expected in err


def test_undeclared_column_is_refused(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, readings = files
    text = readings.read_text().replace("time,oil_temp,wear_ci", "time,oil_temp,wear_index", 1)
    readings.write_text(text)
    code, _, err = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert "row 1, column 'wear_index': column is not a sensor declared" in err


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('unit = "degC"', 'unit = "bar"'), "unit 'bar' does not fit kind 'temperature'"),
        (('kind = "temperature"', 'kind = "smell"'), "field sensors[0](oil_temp).kind"),
        (("amber = 2.0", 'amber = "high"'), "field thresholds.limits.wear_ci.amber"),
        (('id = "press-7"', 'id = "press-7'), "not valid TOML"),
    ],
)
def test_bad_asset_file_names_the_field(
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    edit: tuple[str, str],
    expected: str,
) -> None:
    asset, readings = files
    asset.write_text(asset.read_text().replace(*edit))
    code, out, err = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert out == ""
    assert f"file {asset}" in err and expected in err


def test_both_commissioning_options_is_an_error(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asset, readings = files
    args = ["replay", "--asset", str(asset), "--readings", str(readings), "--json"]
    code, _, err = run(
        [*args, "--commissioning-hours", "4", "--commissioning-readings", "30"],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert "not both" in err


GENERIC_ASSET = """\
id = "gearbox-4"
# Two vendor condition indicators and nothing else: no limits, no direction, no failure level.

[[sensors]]
name = "ci_gear"
kind = "condition_indicator"
unit = ""

[[sensors]]
name = "ci_oil"
kind = "condition_indicator"
unit = ""
"""


def test_generic_indicators_without_limits_go_amber_well_before_failure_naming_the_riser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ~7 days at 10-minute readings: healthy with noise and a daily cycle, then ci_gear wears
    # (exponential growth over its last ~117 hours) to failure at the last row.
    rng = np.random.default_rng(12)
    n, onset = 1000, 300
    hours = np.arange(n) / 6
    day = np.sin(2 * np.pi * hours / 24)
    k = np.clip(np.arange(n) - onset, 0, None)
    gear = 1.0 + 0.05 * day + rng.normal(0, 0.05, n) + 0.02 * np.expm1(4.5 * k / (n - onset))
    oil = 12.0 + 0.3 * day + rng.normal(0, 0.2, n)
    asset, readings = tmp_path / "gearbox.toml", tmp_path / "gearbox.csv"
    asset.write_text(GENERIC_ASSET)
    rows = [f"{T0 + i * STEP_S},{gear[i]:.5f},{oil[i]:.4f}" for i in range(n)]
    readings.write_text("time,ci_gear,ci_oil\n" + "\n".join(rows) + "\n")
    code, out, _ = run(
        ["replay", "--asset", str(asset), "--readings", str(readings), "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == n
    statuses = [r["status"] for r in reports]
    first = statuses.index("amber")
    assert onset < first <= n - 36 * 6  # after the onset, at least 36 hours before the failure
    assert all(s in ("green", "unknown") for s in statuses[:onset])
    summary = reports[first]["summary"]
    assert summary.startswith("amber: departure from baseline: ci_gear rising")
    assert "ci_oil" not in summary
    rul = next(i for i in reports[first]["indicators"] if i["name"] == "rul")
    assert rul["value"] is None and rul["note"].startswith("unknown: ci_gear departs")


CMAPSS = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
)


@pytest.mark.skipif(not CMAPSS.is_file(), reason=f"C-MAPSS FD001 not found at {CMAPSS}")
def test_cmapss_engines_as_generic_indicators_go_amber_before_failure_not_early() -> None:
    # The evaluation of reports/health-validation.md on its first ten engines, through the same
    # `autoops replay` command: every engine amber before its last cycle, none while RUL > 125.
    from benchmarks.eval_health import cmapss

    result = cmapss(10, use_subprocess=False, path=CMAPSS)
    assert result["amber_before_failure"] == 10
    assert result["engines_false_amber_rul_gt_125"] == 0
    assert result["lead_cycles_median"] >= 15
    assert all(p["named"] for p in result["per_engine"])  # the first amber names its indicator
