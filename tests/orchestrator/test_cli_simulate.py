"""`autoops simulate` for the machine scenarios: what the plant day's story promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

AUTOOPS = Path(sys.executable).with_name("autoops")


def simulate(*args: str) -> dict:
    result = CliRunner().invoke(app, ["simulate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_bearing_wear_warns_at_least_50_hours_ahead_and_goes_red_before_failure(seed: int) -> None:
    out = simulate("--scenario", "bearing-wear", "--seed", str(seed))
    assert out["scenario"] == "bearing-wear" and out["seed"] == seed
    assert out["false_amber_count"] == 0
    assert out["failure_at_h"] - out["first_amber_at_h"] >= 50
    assert out["amber_lead_h"] == pytest.approx(out["failure_at_h"] - out["first_amber_at_h"])
    assert out["onset_at_h"] < out["first_amber_at_h"]
    assert out["first_amber_at_h"] < out["first_red_at_h"] < out["failure_at_h"]
    # The warning explains itself and carries a remaining-life estimate with an interval.
    assert out["first_amber_summary"].startswith("amber: ")
    rul = out["rul_at_first_amber_h"]
    assert rul is not None and rul["lower"] <= rul["value"] <= rul["upper"]
    finding = out["first_bearing_finding"]
    assert "outer race defect on spindle_acc: envelope peak at 1x BPFO" in finding["finding"]
    assert finding["at_h"] < out["failure_at_h"] - 50
    # No flicker: green, then amber, then red.
    assert [c["status"] for c in out["status_changes"]] == ["green", "amber", "red"]


def test_bearing_wear_is_reproducible() -> None:
    first = simulate("--scenario", "bearing-wear", "--seed", "11")
    assert simulate("--scenario", "bearing-wear", "--seed", "11") == first


def test_sensor_flatline_names_the_sensor_and_the_machine_is_never_red() -> None:
    # The real console script, as a user runs it.
    proc = subprocess.run(
        [str(AUTOOPS), "simulate", "--scenario", "sensor-flatline", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["flatlined_sensors"] == ["bearing_temp"]
    assert out["worst_status"] in ("green", "amber") and out["red_count"] == 0
    assert out["machine_findings"] == []  # instrument faults are not machine faults
    kinds = {(f["sensor"], f["kind"]) for f in out["sensor_faults"]}
    assert kinds == {
        ("bearing_temp", "flatline"),
        ("spindle_vel", "nan"),
        ("spindle_vel", "jump"),
        ("spindle_power", "stuck"),
        ("spindle_load", "dropout"),
    }
    flat = next(f for f in out["sensor_faults"] if f["kind"] == "flatline")
    assert 80 <= flat["first_at_h"] <= 86  # within a few hours of the sensor dying at 80 h


def test_unknown_scenario_is_a_clear_error() -> None:
    proc = subprocess.run(
        [str(AUTOOPS), "simulate", "--scenario", "gearbox", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown scenario 'gearbox'" in proc.stderr and "bearing-wear" in proc.stderr
