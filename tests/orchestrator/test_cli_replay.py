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
