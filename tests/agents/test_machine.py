from __future__ import annotations

import json
import math
import tomllib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from agents.base import Agent, Reading
from agents.machine import MachineAgent, MachineAsset
from agents.models import FaultKind, Status

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
FS = 12_800.0

ASSET_TOML = """
id = "lathe-3"
name = "CNC lathe 3, main spindle"
line = "line-2"
machine_group = "group2"
foundation = "rigid"
capabilities = ["turning"]
bottleneck = false
shaft_hz = 25.0
commissioning_readings = 40

[bearing]
n_balls = 9
ball_diameter_mm = 7.94
pitch_diameter_mm = 39.04

[[sensors]]
name = "vel"
kind = "vibration_velocity"
unit = "mm/s"
min = 0.0
max = 50.0
correlated_with = ["load"]

[[sensors]]
name = "acc"
kind = "vibration_acceleration"
unit = "m/s2"
sampling_hz = 12800.0

[[sensors]]
name = "temp"
kind = "temperature"
unit = "degC"
min = -20.0
max = 150.0
max_step = 8.0
correlated_with = ["load", "vel"]

[[sensors]]
name = "load"
kind = "spindle_load"
unit = "%"
min = 0.0
max = 150.0

[thresholds.limits.temp]
amber = 70.0
red = 85.0
"""


def asset(**changes: object) -> MachineAsset:
    data = tomllib.loads(ASSET_TOML)
    data.update(changes)
    return MachineAsset.model_validate(data)


class Lathe:
    """Synthetic readings: jobs of varying load, vibration / temperature that follow the test."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.temp = 40.0
        self.freqs = asset().frequencies()

    def reading(self, i: int, *, vel_extra: float = 0.0, bpfo_impacts: float = 0.0) -> Reading:
        rng = self.rng
        load = 40.0 + 25.0 * ((i // 6) % 3 == 1) + rng.normal(0, 1.5)
        self.temp += 0.3 * (25.0 + 0.3 * load + 3.0 * vel_extra - self.temp)
        values = {
            "vel": 1.0 + 0.002 * (load - 50) + 0.03 * rng.normal() + vel_extra,
            "temp": self.temp + rng.normal(0, 0.15),
            "load": load,
        }
        waves = {}
        if i % 4 == 0:  # waveforms every 2 h
            x = rng.normal(0, 0.5, 4096)
            if bpfo_impacts > 0:
                assert self.freqs is not None
                t = np.arange(64) / FS
                ring = np.exp(-800 * t) * np.sin(2 * np.pi * 3000 * t)
                pulses = np.zeros(4096)
                period = FS / self.freqs.bpfo
                idx = (np.arange(0, 4096 / period) * period + rng.uniform(0, period)).astype(int)
                pulses[idx[idx < 4096]] = bpfo_impacts
                x += np.convolve(pulses, ring)[:4096]
            waves["acc"] = x
        return Reading(asset_id="lathe-3", time=T0 + i * STEP, values=values, waveforms=waves)


def run(agent: MachineAgent, lathe: Lathe, start: int, stop: int, **kwargs: float):
    return [agent.assess(lathe.reading(i, **kwargs)) for i in range(start, stop)]


@pytest.fixture(scope="module")
def commissioned() -> tuple[MachineAgent, Lathe, list]:
    agent, lathe = MachineAgent(asset()), Lathe()
    reports = run(agent, lathe, 0, 120)
    return agent, lathe, reports


def test_the_asset_file_is_toml_and_validated() -> None:
    a = asset()
    assert a.id == "lathe-3" and a.line == "line-2"
    assert a.frequencies() is not None and 80 < a.frequencies().bpfo < 95  # 6205-class bearing
    with pytest.raises(ValidationError, match="duplicate sensor names"):
        asset(
            sensors=[
                *tomllib.loads(ASSET_TOML)["sensors"],
                {"name": "vel", "kind": "speed", "unit": "rpm"},
            ]
        )
    with pytest.raises(
        ValidationError, match=r"sensors.vel.correlated_with: unknown sensors \['spindle'\]"
    ):
        data = tomllib.loads(ASSET_TOML)
        data["sensors"][0]["correlated_with"] = ["spindle"]
        MachineAsset.model_validate(data)
    with pytest.raises(ValidationError, match="needs sampling_hz"):
        data = tomllib.loads(ASSET_TOML)
        del data["sensors"][1]["sampling_hz"]
        MachineAsset.model_validate(data)
    with pytest.raises(ValidationError, match="give shaft_hz too"):
        asset(shaft_hz=None)
    with pytest.raises(ValidationError, match="thresholds.limits.oil: no sensor named 'oil'"):
        asset(thresholds={"limits": {"oil": {"amber": 1.0}}})
    with pytest.raises(ValidationError, match="extra"):
        asset(colour="red")


def test_healthy_machine_is_green_learns_its_baseline_and_reports_with_ids(commissioned) -> None:
    agent, _, reports = commissioned
    assert isinstance(agent, Agent)
    assert [r.status for r in reports] == [Status.GREEN] * len(reports)
    assert [r.report_id for r in reports[:2]] == ["lathe-3:0", "lathe-3:1"]
    assert reports[5].time == T0 + 5 * STEP  # time comes from the reading, not a clock
    assert not reports[38].baseline_ready and reports[39].baseline_ready
    last = reports[-1]
    vel = last.indicator("vel")
    assert vel is not None and vel.unit == "mm/s" and vel.amber_at == 2.8 and vel.red_at == 4.5
    assert "zone A" in vel.note
    assert last.indicator("temp").amber_at == 70.0
    assert last.indicator("acc.kurtosis") is not None
    assert last.anomaly_score is not None and last.anomaly_score < 4
    assert last.health_score > 0.8 and last.summary.startswith("green: healthy: vel")
    assert not last.findings and not last.sensor_faults


def test_one_noisy_reading_does_not_flip_the_status_but_sustained_zone_c_does() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(1)
    run(agent, lathe, 0, 60)
    spike = run(agent, lathe, 60, 61, vel_extra=2.3)  # one reading at 3.3 mm/s
    after = run(agent, lathe, 61, 70)
    assert {r.status for r in spike + after} == {Status.GREEN}
    ramp = [agent.assess(lathe.reading(70 + k, vel_extra=0.5 * k)) for k in range(1, 6)]
    zone_c = run(agent, lathe, 76, 82, vel_extra=2.5)
    statuses = [r.status for r in ramp + zone_c]
    first_amber = statuses.index(Status.AMBER)
    assert 5 <= first_amber <= 8  # zone C from the fourth ramp step; three readings to confirm
    amber = (ramp + zone_c)[first_amber]
    assert any(f.startswith("ISO 10816-3 zone C: vel 3.") for f in amber.findings)
    assert amber.summary.startswith("amber: ISO 10816-3 zone C")
    zone_d = run(agent, lathe, 82, 90, vel_extra=4.5)
    first_red = [r.status for r in zone_d].index(Status.RED)
    assert first_red <= 5
    red = zone_d[first_red]
    assert red.health_score < 0.4 and red.summary.startswith("red: ISO 10816-3 zone D")


def test_rising_vibration_gives_a_rul_and_warns_before_the_red_limit() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(2)
    run(agent, lathe, 0, 60)
    reports = []
    for i in range(60, 400):
        extra = 0.05 * math.expm1(0.025 * (i - 60) * 0.5)  # excess doubles every ~28 h
        reports.append(agent.assess(lathe.reading(i, vel_extra=extra)))
        if extra + 1.0 > 4.5:
            break
    first_amber = next(r for r in reports if r.status is Status.AMBER)
    first_red = next(r for r in reports if r.status is Status.RED)
    crossing = reports[-1].time
    assert first_amber.rul is not None and first_amber.rul.lower <= first_amber.rul.upper
    assert (crossing - first_amber.time) >= timedelta(hours=40)
    assert first_red.time <= crossing
    with_rul = [
        r for r in reports if r.rul is not None and r.time >= crossing - timedelta(hours=48)
    ]
    true_rul = [(crossing - r.time).total_seconds() / 3600 for r in with_rul]
    errors = [abs(r.rul.value - t) for r, t in zip(with_rul, true_rul, strict=True)]
    assert np.median(errors) < 8  # within a shift over the last two days


def test_bearing_defect_in_the_waveform_is_named_with_its_evidence() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(3)
    run(agent, lathe, 0, 60)
    reports = run(agent, lathe, 60, 84, bpfo_impacts=4.0)
    amber = [r for r in reports if r.status is Status.AMBER]
    assert amber, "three waveforms with BPFO impacts must turn the machine amber"
    finding = next(f for f in amber[0].findings if "outer race" in f)
    assert "on acc: envelope peak at 1x BPFO" in finding and "x background" in finding
    assert amber[0].indicator("acc.defect_ratio").value > 4
    assert amber[0].health_score <= 0.6


def test_instrument_faults_are_named_and_never_make_the_machine_red() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(4)
    run(agent, lathe, 0, 80)
    statuses = []
    for i in range(80, 110):
        r = lathe.reading(i)
        values = dict(r.values)
        values["temp"] = 120.0  # far beyond the red limit of 85 degC, but a 70 K jump
        if i % 3 == 0:
            values["vel"] = math.nan
        if i % 5 == 0:
            values["load"] = "err"  # type: ignore[assignment]
        report = agent.assess(Reading(r.asset_id, r.time, values, r.waveforms))
        statuses.append(report.status)
    assert Status.RED not in statuses
    assert report.status is Status.AMBER
    assert "check the instrument: temp jump" in report.summary
    assert report.indicator("temp").value is None and "jump" in report.indicator("temp").note
    assert not report.findings  # nothing is wrong with the machine


def test_flatlined_temperature_is_reported_as_the_sensor() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(5)
    run(agent, lathe, 0, 80)
    for i in range(80, 100):
        r = lathe.reading(i)
        values = {**r.values, "temp": 48.2 + lathe.rng.normal(0, 0.001)}
        report = agent.assess(Reading(r.asset_id, r.time, values, r.waveforms))
    faults = {(f.sensor, f.kind) for f in report.sensor_faults}
    assert ("temp", FaultKind.FLATLINE) in faults
    assert report.status is Status.AMBER and "temp flatline" in report.summary


def test_snapshot_restores_baseline_and_continues_identically() -> None:
    lathe_a, lathe_b = Lathe(6), Lathe(6)
    a = MachineAgent(asset())
    run(a, lathe_a, 0, 90)
    run(MachineAgent(asset()), lathe_b, 0, 90)  # keep the twin generators in step
    snap = json.loads(json.dumps(a.snapshot()))  # JSON-able, as the checkpoint store keeps it
    b = MachineAgent(asset())
    b.restore(snap)
    ra = run(a, lathe_a, 90, 110, vel_extra=0.4)
    rb = run(b, lathe_b, 90, 110, vel_extra=0.4)
    assert rb[0].baseline_ready and rb[0].report_id == "lathe-3:90"
    assert [r.model_dump() for r in ra] == [r.model_dump() for r in rb]
    with pytest.raises(ValueError, match="snapshot is for asset 'lathe-3', not 'other'"):
        MachineAgent(asset(id="other")).restore(snap)


def test_garbage_in_never_raises_and_the_agent_keeps_reporting() -> None:
    agent, lathe = MachineAgent(asset()), Lathe(7)
    rng = np.random.default_rng(0)
    junk = [None, "x", math.nan, math.inf, -math.inf, 1e308, -5.0, [1, 2], True]
    bad_waves = [None, np.zeros((2, 100)), "abc", np.array([]), np.full(4096, np.inf), [0.0] * 99]
    reports = []
    for i in range(200):
        r = lathe.reading(i)
        values, waves, time = dict(r.values), dict(r.waveforms), r.time
        if rng.random() < 0.3:
            values[str(rng.choice(list(values)))] = junk[rng.integers(len(junk))]
        if rng.random() < 0.1:
            waves["acc"] = bad_waves[rng.integers(len(bad_waves))]
        if rng.random() < 0.05:
            values = {}
        if rng.random() < 0.03:
            time -= timedelta(hours=5)  # out of order
        reports.append(agent.assess(Reading(r.asset_id, time, values, waves)))
    assert len(reports) == 200 and reports[-1].seq == 199
    assert Status.RED not in {r.status for r in reports}
    assert any(r.sensor_faults for r in reports)
    assert MachineAgent(asset()).assess(Reading("lathe-3", T0, {}, {})).status is Status.UNKNOWN


def test_velocity_in_inches_is_judged_on_the_same_iso_zones() -> None:
    data = tomllib.loads(ASSET_TOML)
    data["sensors"][0]["unit"] = "in/s"
    data["sensors"][0]["max"] = 2.0
    agent = MachineAgent(MachineAsset.model_validate(data))
    values = {"vel": 0.14, "temp": 40.0, "load": 50.0}  # 3.6 mm/s
    report = agent.assess(Reading("lathe-3", T0, values, {}))
    vel = report.indicator("vel")
    assert vel.amber_at == pytest.approx(2.8 / 25.4) and "zone C" in vel.note
    overridden = MachineAgent(asset(thresholds={"limits": {"vel": {"amber": 6.0, "red": 9.0}}}))
    vel = overridden.assess(Reading("lathe-3", T0, {"vel": 3.6}, {})).indicator("vel")
    assert vel.amber_at == 6.0 and vel.note == "" and vel.status is Status.GREEN


def test_a_generic_condition_indicator_is_trended_against_its_declared_limits() -> None:
    pump = MachineAsset.model_validate(
        {
            "id": "pump-7",
            "sensors": [{"name": "ci", "kind": "condition_indicator", "unit": "score"}],
            "thresholds": {"limits": {"ci": {"amber": 10.0, "red": 20.0}}},
            "commissioning_readings": 30,
        }
    )
    agent, rng = MachineAgent(pump), np.random.default_rng(8)
    reports = []
    for i in range(200):  # one reading every 10 min; wear from reading 120 on
        v = 3 + rng.normal(0, 0.3) + (0 if i < 120 else 0.004 * (i - 120) ** 2)
        reports.append(agent.assess(Reading("pump-7", T0 + i * timedelta(minutes=10), {"ci": v})))
    assert all(r.status is Status.GREEN for r in reports[:120])
    assert reports[60].summary.startswith("green: healthy: ci ")
    first_amber = next(i for i, r in enumerate(reports) if r.status is Status.AMBER)
    first_red = next(i for i, r in enumerate(reports) if r.status is Status.RED)
    assert 120 < first_amber < first_red
    assert reports[first_amber].rul is not None  # a rising trend comes with a remaining life
    last = reports[-1]
    assert last.indicator("ci").value > 20 and last.rul is not None and last.rul.value == 0


def test_health_score_holds_steady_when_a_waveform_comes_every_other_reading() -> None:
    """The sample plant's mill 1: scalars every hour, the ``spindle_acc`` waveform every other
    hour. Once the bearing's envelope features depart from the baseline, the score describes the
    asset, not which sensors spoke: a scalar-only hour keeps the waveform features' anomaly (their
    latest known median) instead of jumping back to a healthy score."""
    from agents.simulator.machine_twin import MachineTwin

    twin = MachineTwin(1, step_h=1.0, waveform_every_h=2.0)
    agent = MachineAgent(twin.asset)
    rows = []
    for reading in twin.readings():
        report = agent.assess(reading)
        rows.append((bool(reading.waveforms), report.health_score, report.anomaly_score))
    assert any(w for w, _, _ in rows) and not all(w for w, _, _ in rows)  # they alternate
    # Pairs of a waveform hour and the scalar-only hour after it, while the waveform anomaly is
    # large (the envelope features far above baseline): the two hours score alike.
    pairs = [
        (rows[i], rows[i + 1])
        for i in range(len(rows) - 1)
        if rows[i][0] and not rows[i + 1][0] and (rows[i][2] or 0.0) > 20.0
    ]
    assert len(pairs) >= 10, len(pairs)
    for (_, wave_score, wave_anomaly), (_, scalar_score, scalar_anomaly) in pairs:
        assert scalar_anomaly is not None and scalar_anomaly >= 0.5 * wave_anomaly
        assert abs(wave_score - scalar_score) < 0.1, (wave_score, scalar_score)
