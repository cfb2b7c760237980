from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agents.models import FaultKind, SensorKind, SensorSpec
from agents.sensor_faults import SensorFaultMonitor

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)

SENSORS = (
    SensorSpec(
        name="temp",
        kind=SensorKind.TEMPERATURE,
        unit="degC",
        min=-20,
        max=150,
        max_step=8,
        correlated_with=("load", "power"),
    ),
    SensorSpec(name="load", kind=SensorKind.SPINDLE_LOAD, unit="%", min=0, max=150),
    SensorSpec(
        name="power", kind=SensorKind.POWER, unit="kW", min=0, max=40, correlated_with=("load",)
    ),
    SensorSpec(
        name="acc", kind=SensorKind.VIBRATION_ACCELERATION, unit="m/s2", sampling_hz=5000, max=200
    ),
)


def job_load(i: int) -> float:
    return 40.0 + 30.0 * ((i // 8) % 2)


def healthy(rng: np.random.Generator, i: int) -> dict[str, float]:
    """A machine running jobs: load steps every 8 readings, power follows, temperature lags."""
    load = job_load(i) + rng.normal(0, 1.5)
    lagged = 0.5 * job_load(i) + 0.3 * job_load(i - 1) + 0.2 * job_load(i - 2)
    return {
        "temp": 30.0 + 0.3 * lagged + rng.normal(0, 0.2),
        "load": load,
        "power": 2.0 + 0.2 * load + rng.normal(0, 0.1),
    }


def run(values_at, n: int, *, seed: int = 0, waveform=None):
    """Feed ``n`` readings; return the faults per reading as {(sensor, kind)} sets."""
    rng = np.random.default_rng(seed)
    monitor = SensorFaultMonitor(SENSORS)
    seen = []
    checks = []
    for i in range(n):
        values = values_at(rng, i)
        waves = {} if waveform is None else {"acc": waveform(rng, i)}
        check = monitor.check(T0 + i * STEP, values, waves)
        seen.append({(f.sensor, f.kind) for f in check.faults})
        checks.append(check)
    return seen, checks


def test_a_healthy_machine_raises_no_instrument_faults() -> None:
    seen, checks = run(healthy, 300, waveform=lambda rng, i: rng.normal(0, 1, 1024))
    assert all(not s for s in seen)
    assert set(checks[-1].values) == {"temp", "load", "power"}
    assert "acc" in checks[-1].waveforms


def test_flatlined_temperature_is_flagged_while_load_and_power_move() -> None:
    def values(rng, i):
        v = healthy(rng, i)
        if i >= 100:
            v["temp"] = 41.7 + rng.normal(0, 0.001)  # dead sensor: a constant plus converter noise
        return v

    seen, checks = run(values, 140)
    flagged = [i for i, s in enumerate(seen) if ("temp", FaultKind.FLATLINE) in s]
    assert flagged and 100 <= flagged[0] <= 108  # within one window of the failure
    assert all(("temp", FaultKind.FLATLINE) in s for s in seen[flagged[0] :])
    assert "temp" not in checks[-1].values  # withheld from the machine assessment
    assert {"load", "power"} <= set(checks[-1].values)
    fault = next(f for f in checks[-1].faults if f.kind is FaultKind.FLATLINE)
    assert fault.since == T0 + flagged[0] * STEP  # the start is remembered, not the latest reading


def test_everything_going_flat_together_is_a_machine_at_rest_not_a_sensor_fault() -> None:
    def values(rng, i):
        if i < 100:
            return healthy(rng, i)
        return {"temp": 22.0 + rng.normal(0, 0.001), "load": 0.0, "power": 0.3}

    seen, _ = run(values, 130)
    assert not any(("temp", FaultKind.FLATLINE) in s for s in seen)
    assert not any(("temp", FaultKind.STUCK) in s for s in seen)


def test_stuck_value_is_flagged_after_a_few_identical_readings() -> None:
    def values(rng, i):
        v = healthy(rng, i)
        if i >= 100:
            v["power"] = 9.125
        return v

    seen, checks = run(values, 110)
    flagged = [i for i, s in enumerate(seen) if ("power", FaultKind.STUCK) in s]
    assert flagged[0] == 103  # the fourth identical value
    assert "9.125 kW 4 times" in next(f.detail for f in checks[103].faults)


def test_nan_inf_and_non_numbers_become_faults_and_never_raise() -> None:
    bad = {100: math.nan, 101: math.inf, 102: -math.inf, 103: "n/a", 104: None}

    def values(rng, i):
        v = healthy(rng, i)
        if i in bad:
            v["temp"] = bad[i]  # type: ignore[assignment]
        return v

    seen, checks = run(values, 106)
    for i in (100, 101, 102, 103):
        assert ("temp", FaultKind.NAN) in seen[i]
        assert "temp" not in checks[i].values
    assert "3 non-finite value(s) in a row" in next(
        f.detail for f in checks[102].faults if f.sensor == "temp"
    )
    assert ("temp", FaultKind.DROPOUT) in seen[104]
    assert not seen[105] and "temp" in checks[105].values


def test_out_of_range_and_missing_sensor() -> None:
    def values(rng, i):
        v = healthy(rng, i)
        if i == 50:
            v["load"] = 180.0
        if i == 60:
            del v["power"]
        return v

    seen, checks = run(values, 70)
    assert seen[50] == {("load", FaultKind.OUT_OF_RANGE)}
    assert "outside the plausible range [0.0, 150.0]" in checks[50].faults[0].detail
    assert seen[60] == {("power", FaultKind.DROPOUT)}


def test_jump_beyond_declared_step_is_flagged_and_the_value_withheld() -> None:
    def values(rng, i):
        v = healthy(rng, i)
        if i == 80:
            v["temp"] += 25.0  # a loose connector, not 25 K in half an hour
        return v

    seen, checks = run(values, 90)
    assert seen[80] == {("temp", FaultKind.JUMP)}
    assert "temp" not in checks[80].values
    assert not seen[81]  # back to normal: the next reading is believed again


def test_large_move_echoed_by_a_correlated_sensor_is_the_process() -> None:
    def values(rng, i):
        v = healthy(rng, i)
        if i >= 120:  # a much heavier job than ever before: load and power both step up
            v["load"] += 60.0
            v["power"] += 12.0
        return v

    seen, checks = run(values, 130)
    assert not any(s for s in seen[120:])
    assert checks[125].values["load"] > 95


def test_a_gap_in_time_is_a_dropout() -> None:
    rng = np.random.default_rng(1)
    monitor = SensorFaultMonitor(SENSORS)
    for i in range(20):
        monitor.check(T0 + i * STEP, healthy(rng, i), {})
    check = monitor.check(T0 + 19 * STEP + timedelta(hours=6), healthy(rng, 20), {})
    dropouts = {f.sensor for f in check.faults if f.kind is FaultKind.DROPOUT}
    assert dropouts == {"temp", "load", "power"}
    assert "no reading for 6 h (usually every 0.5 h)" in check.faults[0].detail
    assert set(check.values) == {"temp", "load", "power"}  # the values themselves are fine


@pytest.mark.parametrize(
    ("samples", "kind"),
    [
        (np.full(1024, np.nan), FaultKind.NAN),
        (np.full(1024, 0.37), FaultKind.FLATLINE),
        (np.clip(np.random.default_rng(0).normal(0, 150, 1024), -200, 200), FaultKind.OUT_OF_RANGE),
        (np.ones(10), FaultKind.DROPOUT),
    ],
)
def test_bad_waveforms_are_flagged_and_withheld(samples: np.ndarray, kind: FaultKind) -> None:
    monitor = SensorFaultMonitor(SENSORS)
    check = monitor.check(T0, {"temp": 40, "load": 50, "power": 12}, {"acc": samples})
    assert ("acc", kind) in {(f.sensor, f.kind) for f in check.faults}
    assert "acc" not in check.waveforms


def test_an_overdue_waveform_is_a_dropout_but_a_reading_without_one_is_normal() -> None:
    rng = np.random.default_rng(2)
    monitor = SensorFaultMonitor(SENSORS)
    faults = []
    for i in range(40):
        waves = {"acc": rng.normal(0, 1, 512)} if i % 4 == 0 and i < 24 else {}
        check = monitor.check(T0 + i * STEP, healthy(rng, i), waves)
        faults.append({(f.sensor, f.kind) for f in check.faults})
    # Waveforms every 2 h until 10 h; silence up to 4x the usual interval (8 h) is allowed.
    assert not any(faults[:37])
    assert all(("acc", FaultKind.DROPOUT) in f for f in faults[37:])


def test_state_round_trip_keeps_what_was_learned() -> None:
    rng = np.random.default_rng(3)
    a = SensorFaultMonitor(SENSORS)
    for i in range(60):
        a.check(T0 + i * STEP, healthy(rng, i), {})
    b = SensorFaultMonitor(SENSORS)
    b.load(a.state())
    reading = healthy(rng, 60)
    reading["temp"] += 30
    fa = a.check(T0 + 60 * STEP, reading, {})
    fb = b.check(T0 + 60 * STEP, reading, {})
    assert fa.faults == fb.faults and fa.faults[0].kind is FaultKind.JUMP
