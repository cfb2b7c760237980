from __future__ import annotations

import math
from datetime import timedelta
from itertools import islice

import numpy as np
import pytest

from agents.bearing import diagnose
from agents.iso10816 import Zone, classify
from agents.machine import MachineAgent
from agents.models import FaultKind, SensorFault, Status
from agents.simulator.machine_twin import FS, Injection, MachineTwin


def test_same_seed_same_run_and_a_known_failure_time() -> None:
    a, b, c = MachineTwin(7), MachineTwin(7), MachineTwin(8)
    ra, rb = list(islice(a.readings(), 50)), list(islice(b.readings(), 50))
    assert [r.values for r in ra] == [r.values for r in rb]
    assert np.array_equal(ra[0].waveforms["spindle_acc"], rb[0].waveforms["spindle_acc"])
    assert a.failure_at_h == b.failure_at_h != c.failure_at_h
    assert 150 <= a.onset_h <= 220 and 180 <= a.failure_at_h - a.onset_h <= 260
    assert a.failure_at is not None and a.hours(a.failure_at) == pytest.approx(a.failure_at_h)


def test_run_to_failure_ends_well_into_zone_d_and_streams_timed_readings() -> None:
    twin = MachineTwin(3)
    readings = list(twin.readings())
    times = [twin.hours(r.time) for r in readings]
    assert times[0] == 0.0 and np.allclose(np.diff(times), twin.step_h)
    assert times[-1] == pytest.approx(twin.failure_at_h, abs=twin.step_h)
    healthy = [r.values["spindle_vel"] for r in readings if twin.hours(r.time) < twin.onset_h]
    assert classify(float(np.median(healthy)), "group2", "rigid") is Zone.A
    assert classify(readings[-1].values["spindle_vel"], "group2", "rigid") is Zone.D
    # Thermal coupling: the bearing runs hotter at the end of its life than when healthy.
    assert (
        readings[-1].values["bearing_temp"]
        > np.median([r.values["bearing_temp"] for r in readings[:100]]) + 10
    )
    # Waveforms come every 2 h (every 4th reading), as an online system captures them.
    assert sum("spindle_acc" in r.waveforms for r in readings[:40]) == 10


def test_the_waveform_carries_the_outer_race_defect_only_after_onset() -> None:
    twin = MachineTwin(4)
    with_wave = [r for r in twin.readings() if "spindle_acc" in r.waveforms]
    early = with_wave[5].waveforms["spindle_acc"]
    late = with_wave[-5].waveforms["spindle_acc"]
    assert early.size == 4096
    assert not diagnose(early, FS, twin.freqs).faulty
    late_diag = diagnose(late, FS, twin.freqs)
    assert late_diag.kinds[0].value == "outer_race"


def test_injected_faults_change_what_the_sensors_report_not_the_machine() -> None:
    faults = (
        Injection("bearing_temp", FaultKind.FLATLINE, start_h=10, duration_h=5),
        Injection("spindle_power", FaultKind.STUCK, start_h=10, duration_h=5),
        Injection("spindle_vel", FaultKind.NAN, start_h=10, duration_h=1),
        Injection("spindle_load", FaultKind.DROPOUT, start_h=10, duration_h=1),
        Injection("spindle_vel", FaultKind.JUMP, start_h=12, duration_h=1, magnitude=10),
    )
    clean = list(MachineTwin(5, life_h=math.inf).readings(until_h=16))
    faulty = list(MachineTwin(5, life_h=math.inf, faults=faults).readings(until_h=16))
    window = faulty[20:30]
    assert np.std([r.values["bearing_temp"] for r in window]) < 0.01
    assert len({r.values["spindle_power"] for r in window}) == 1
    assert math.isnan(faulty[20].values["spindle_vel"]) and "spindle_load" not in faulty[20].values
    assert faulty[24].values["spindle_vel"] == pytest.approx(clean[24].values["spindle_vel"] + 10)
    assert faulty[19].values == clean[19].values and faulty[31].values == clean[31].values


def test_the_agent_follows_the_twin_from_green_to_red_before_failure() -> None:
    twin = MachineTwin(2)
    agent = MachineAgent(twin.asset)
    reports = [(twin.hours(r.time), agent.assess(r)) for r in twin.readings()]
    assert all(r.status is Status.GREEN for t, r in reports if t < twin.onset_h)
    red_at = next(t for t, r in reports if r.status is Status.RED)
    assert red_at < twin.failure_at_h
    last = reports[-1][1]
    assert any("outer race defect on spindle_acc" in f for f in last.findings)
    assert last.health_score < 0.2


def test_sensor_fault_entries_are_plain_models() -> None:
    twin = MachineTwin(1, life_h=math.inf, faults=(Injection("spindle_vel", FaultKind.NAN, 30, 2),))
    agent = MachineAgent(twin.asset)
    reports = [agent.assess(r) for r in twin.readings(until_h=32)]
    fault = reports[-2].sensor_faults[0]
    assert isinstance(fault, SensorFault) and fault.sensor == "spindle_vel"
    assert fault.kind is FaultKind.NAN and fault.since == twin.start + timedelta(hours=30)
    with pytest.raises(ValueError, match="needs until_h"):
        next(twin.readings())
