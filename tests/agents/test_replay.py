from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from agents.errors import ConfigError, InputError
from agents.models import SensorKind, SensorSpec
from agents.replay import load_asset_toml, read_readings_csv, read_waveform

SENSORS = (
    SensorSpec(name="bearing_temp", kind=SensorKind.TEMPERATURE, unit="degC"),
    SensorSpec(name="ci", kind=SensorKind.CONDITION_INDICATOR, unit="score"),
    SensorSpec(name="acc", kind=SensorKind.VIBRATION_ACCELERATION, unit="g", sampling_hz=20000),
)


def write(tmp_path: Path, text: str, name: str = "readings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_iso_and_epoch_timestamps_become_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time,bearing_temp,ci\n"
        "2026-01-01T00:00:00Z,41.0,0.10\n"
        "2026-01-01T02:00:00+01:00,41.5,0.11\n"  # 01:00 UTC
        "2026-01-01T01:30:00,42.0,0.12\n"  # naive: taken as UTC
        "1767231600,42.5,0.13\n",  # 2026-01-01T01:40:00Z in epoch seconds
    )
    readings = list(read_readings_csv(path, "pump-1", SENSORS))
    assert [r.time for r in readings] == [
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 30, tzinfo=UTC),
        datetime(2026, 1, 1, 1, 40, tzinfo=UTC),
    ]
    assert all(r.asset_id == "pump-1" for r in readings)
    assert readings[1].values == {"bearing_temp": 41.5, "ci": 0.11}


def test_missing_and_non_finite_cells_pass_as_sensor_data(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time, bearing_temp, ci\n0, , 0.1\n60, nan, inf\n120, 40.0, -inf\n\n",
    )
    readings = list(read_readings_csv(path, "pump-1", SENSORS))
    assert len(readings) == 3  # the trailing blank line is not a row
    assert math.isnan(readings[0].values["bearing_temp"])
    assert math.isnan(readings[1].values["bearing_temp"])
    assert readings[1].values["ci"] == math.inf
    assert readings[2].values["ci"] == -math.inf


@pytest.mark.parametrize(
    ("text", "row", "column", "words"),
    [
        ("time,bearing_temp,ci,speed\n0,1,2,3\n", 1, "speed", "not a sensor declared"),
        ("time,bearing_temp\n0,1\n", 1, None, "['ci'] have no column"),
        ("time,bearing_temp,ci,acc\n0,1,2,3\n", 1, "acc", "waveform sensors cannot"),
        ("time,bearing_temp,ci,ci\n0,1,2,3\n", 1, "ci", "appears twice"),
        ("time,bearing_temp,ci\n0,1,2\n60,41.x,2\n", 3, "bearing_temp", "'41.x' is not a number"),
        ("time,bearing_temp,ci\n60,1,2\n0,1,2\n", 3, "time", "is not after the previous"),
        ("time,bearing_temp,ci\n60,1,2\n60,1,2\n", 3, "time", "drop duplicate rows"),
        ("time,bearing_temp,ci\nyesterday,1,2\n", 2, "time", "neither ISO 8601"),
        ("time,bearing_temp,ci\n0,1,2\n60,1\n", 3, None, "row has 2 cells, the header has 3"),
        ("time,bearing_temp,ci\n", None, None, "no data rows"),
        ("", None, None, "file is empty"),
    ],
)
def test_bad_files_name_file_row_and_column(
    tmp_path: Path, text: str, row: int | None, column: str | None, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        list(read_readings_csv(path, "pump-1", SENSORS))
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), row, column)
    assert words in str(err)
    assert str(path) in str(err)


def test_rows_before_a_bad_row_are_read_lazily(tmp_path: Path) -> None:
    # A reader over a huge file streams: good rows arrive before the error on a later row.
    lines = ["time,bearing_temp,ci"] + [f"{60 * i},40,0.1" for i in range(5)] + ["1,40,0.1"]
    it = read_readings_csv(write(tmp_path, "\n".join(lines)), "pump-1", SENSORS)
    assert [next(it).time for _ in range(5)][-1] == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        minutes=4
    )
    with pytest.raises(InputError, match="row 7"):
        next(it)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open readings file"):
        list(read_readings_csv(tmp_path / "nope.csv", "pump-1", SENSORS))


def test_waveform_text_and_npy_read_the_same(tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(size=256)
    np.save(tmp_path / "w.npy", x)
    (tmp_path / "w.txt").write_text("# accel, g\n" + "\n".join(repr(float(v)) for v in x) + "\n")
    np.testing.assert_array_equal(read_waveform(tmp_path / "w.npy"), x)
    np.testing.assert_array_equal(read_waveform(tmp_path / "w.txt"), x)


def test_waveform_npy_must_be_one_numeric_column(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((100, 3)))
    with pytest.raises(InputError, match=r"1-D numeric array, got shape \(100, 3\)"):
        read_waveform(tmp_path / "m.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(InputError, match="not a readable .npy"):
        read_waveform(tmp_path / "junk.npy")


ASSET_TOML = """\
id = "fan-3"
machine_group = "group1"
foundation = "flexible"
shaft_hz = 24.8

[bearing]
n_balls = 9
ball_diameter_mm = 7.94
pitch_diameter_mm = 39.04

[[sensors]]
name = "de_acc"
kind = "vibration_acceleration"
unit = "g"
sampling_hz = 25600

[[sensors]]
name = "bearing_temp"
kind = "temperature"
unit = "degC"
"""


def test_asset_file_loads_into_the_machine_model(tmp_path: Path) -> None:
    asset = load_asset_toml(write(tmp_path, ASSET_TOML, "fan.toml"))
    assert asset.id == "fan-3"
    assert [s.name for s in asset.sensors] == ["de_acc", "bearing_temp"]
    freqs = asset.frequencies()
    assert freqs is not None and freqs.bpfo == pytest.approx(3.5848 * 24.8, rel=1e-3)
    # Its scalar sensors are what a readings CSV for it must carry.
    path = write(tmp_path, "time,bearing_temp\n0,40\n")
    assert [r.values for r in read_readings_csv(path, asset.id, asset.sensors)] == [
        {"bearing_temp": 40.0}
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("sampling_hz = 25600", ""), "a waveform sensor needs sampling_hz"),
        (('unit = "g"', 'unit = "mm/s"'), "unit 'mm/s' does not fit kind"),
        (("n_balls = 9", "n_balls = -9"), "field bearing.n_balls"),
        (('foundation = "flexible"', 'foundation = "jelly"'), "field foundation"),
        (('name = "de_acc"', 'name = "de_acc"\ncolour = "red"'), "field sensors[0](de_acc).colour"),
        (("[bearing]", "[bearing"), "not valid TOML"),
    ],
)
def test_bad_asset_file_is_a_config_error_naming_the_field(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, ASSET_TOML.replace(*edit), "fan.toml")
    with pytest.raises(ConfigError) as info:
        load_asset_toml(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_asset_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open asset file"):
        load_asset_toml(tmp_path / "absent.toml")
