"""Digital twin of a milling spindle whose outer-race bearing wears out, with sensor-fault injection.

Physics, time-compressed (one reading every ``step_h`` simulated hours, 0.5 h by default):

- *Load.* Jobs of 2-6 h at 30-85 % spindle load, one after the other.
- *Vibration.* Healthy RMS velocity (mm/s, ISO band) a little load dependent. From the defect onset
  the excess over healthy grows exponentially (the P-F curve of a spalling race) and reaches the
  failure level (``failure_mm_s``, well into ISO 10816-3 zone D) ``life_h`` hours later.
- *Acceleration waveform.* 4096 samples at 12.8 kHz per reading: shaft 1x tone (consistent with
  the velocity), broadband noise and, once the defect exists, one impact per ball pass over the
  spall (BPFO, with slip jitter) ringing a 3.4 kHz structural resonance. The impact amplitude grows
  ahead of the velocity (impacts are visible in the envelope long before they move the RMS), as
  in real bearings, so the agent's envelope diagnosis runs on genuine signals.
- *Thermal coupling.* Bearing temperature follows load and friction (vibration excess) with a
  first-order lag of 1.5 h; power follows load plus friction losses.

Everything random comes from one ``numpy.random.Generator`` seeded by ``seed``: same seed, same run.
Injected sensor faults (``Injection``) alter what the *sensors* report, never the machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from agents.base import Reading
from agents.bearing import BearingGeometry, DefectFrequencies
from agents.iso10816 import Foundation, MachineGroup
from agents.machine import Limit, MachineAgent, MachineAsset, MachineThresholds
from agents.models import FaultKind, HealthReport, SensorKind, SensorSpec, Status
from agents.simulator.scenarios import scenario

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # a Monday morning shift
FS = 12_800.0
N_SAMPLES = 4096
SHAFT_HZ = 50.0  # 3000 rpm
#: Angular-contact spindle bearing (7014-class): 16 balls of 11.1 mm on a 92.5 mm pitch, 15 deg.
GEOMETRY = BearingGeometry(
    n_balls=16, ball_diameter_mm=11.1, pitch_diameter_mm=92.5, contact_angle_deg=15.0
)
RESONANCE_HZ = 3400.0


@dataclass(frozen=True, slots=True)
class Injection:
    """A sensor fault injected from ``start_h`` for ``duration_h``: what the sensor reports."""

    sensor: str
    kind: FaultKind  # flatline | stuck | nan | jump | dropout | out_of_range
    start_h: float
    duration_h: float
    magnitude: float = 0.0  # jump offset / out-of-range value

    def active(self, t_h: float) -> bool:
        return self.start_h <= t_h < self.start_h + self.duration_h


def spindle_asset(asset_id: str = "mill-1", line: str | None = "line-1") -> MachineAsset:
    """The asset declaration matching the twin's sensors (also a template for real spindles)."""
    return MachineAsset(
        id=asset_id,
        name="CNC milling centre, main spindle",
        line=line,
        machine_group=MachineGroup.GROUP2,
        foundation=Foundation.RIGID,
        sensors=(
            SensorSpec(
                name="spindle_vel",
                kind=SensorKind.VIBRATION_VELOCITY,
                unit="mm/s",
                min=0.0,
                max=50.0,
                correlated_with=("spindle_load",),
            ),
            SensorSpec(
                name="spindle_acc",
                kind=SensorKind.VIBRATION_ACCELERATION,
                unit="m/s2",
                sampling_hz=FS,
                max=500.0,
            ),
            SensorSpec(
                name="bearing_temp",
                kind=SensorKind.TEMPERATURE,
                unit="degC",
                min=-20.0,
                max=150.0,
                max_step=8.0,
                correlated_with=("spindle_load", "spindle_power", "spindle_vel"),
            ),
            SensorSpec(
                name="spindle_load", kind=SensorKind.SPINDLE_LOAD, unit="%", min=0.0, max=150.0
            ),
            SensorSpec(
                name="spindle_power",
                kind=SensorKind.POWER,
                unit="kW",
                min=0.0,
                max=40.0,
                correlated_with=("spindle_load",),
            ),
        ),
        bearing=GEOMETRY,
        shaft_hz=SHAFT_HZ,
        capabilities=("milling", "drilling"),
        bottleneck=True,
        thresholds=MachineThresholds(limits={"bearing_temp": Limit(amber=75.0, red=90.0)}),
        commissioning_hours=48.0,
    )


class MachineTwin:
    """One seeded run of the spindle, from commissioning to bearing failure.

    ``onset_h`` / ``life_h`` default to seeded draws (onset 150-220 h, defect life 180-260 h);
    ``life_h=math.inf`` gives a spindle that never wears (for sensor-fault scenarios).

    Use: ``twin = MachineTwin(seed)``; ``twin.asset`` is the ``MachineAsset`` to build the agent
    from; ``twin.readings()`` streams ``Reading``s until ``twin.failure_at`` (or ``until_h``).
    Several machines of a plant: one twin each, with its own ``asset_id`` and seed.
    """

    def __init__(
        self,
        seed: int,
        *,
        asset_id: str = "mill-1",
        line: str | None = "line-1",
        step_h: float = 0.5,
        waveform_every_h: float = 2.0,
        waveform_offset: int = 0,
        onset_h: float | None = None,
        life_h: float | None = None,
        faults: Sequence[Injection] = (),
        failure_mm_s: float = 7.1,
        start: datetime = START,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        # Fault noise has its own stream: the machine runs the same with or without injections.
        self.fault_rng = np.random.default_rng([seed, 1])
        self.asset = spindle_asset(asset_id, line)
        self.step_h = step_h
        # Online systems trend scalars often and capture raw waveforms less often.
        # Online systems trend scalars often and capture raw waveforms less often (every
        # ``waveform_every`` readings from reading ``waveform_offset`` on; 0: never).
        finite = math.isfinite(waveform_every_h)
        self.waveform_every = max(1, round(waveform_every_h / step_h)) if finite else 0
        self.waveform_offset = waveform_offset
        self.onset_h = float(onset_h if onset_h is not None else self.rng.uniform(150.0, 220.0))
        self.life_h = float(life_h if life_h is not None else self.rng.uniform(180.0, 260.0))
        self.faults = tuple(faults)
        self.failure_mm_s = failure_mm_s
        self.start = start
        self.v_base = float(self.rng.uniform(0.9, 1.2))
        self.growth = float(self.rng.uniform(4.2, 4.8))  # b * life: how sharply the P-F curve bends
        self.freqs = DefectFrequencies.from_geometry(GEOMETRY, SHAFT_HZ)
        t = np.arange(64) / FS
        self.kernel = np.exp(-2 * np.pi * 0.06 * RESONANCE_HZ * t) * np.sin(
            2 * np.pi * RESONANCE_HZ * t
        )

    @property
    def failure_at_h(self) -> float:
        """Hours from start until the velocity reaches the failure level (inf: never)."""
        return self.onset_h + self.life_h

    @property
    def failure_at(self) -> datetime | None:
        if math.isinf(self.failure_at_h):
            return None
        return self.start + timedelta(hours=self.failure_at_h)

    def hours(self, time: datetime) -> float:
        return (time - self.start).total_seconds() / 3600.0

    def wear(self, t_h: float) -> float:
        """Fraction 0..1 of the way from healthy to failure (vibration excess), at ``t_h``."""
        tau = t_h - self.onset_h
        if tau <= 0 or math.isinf(self.life_h):
            return 0.0
        return math.expm1(self.growth * tau / self.life_h) / math.expm1(self.growth)

    def readings(self, until_h: float | None = None) -> Iterator[Reading]:
        """Readings every ``step_h`` until failure (inclusive) or ``until_h``."""
        end = self.failure_at_h if until_h is None else until_h
        if math.isinf(end):
            raise ValueError("a twin that never fails needs until_h")
        rng = self.rng
        load, job_left, temp = 50.0, 0.0, 22.0 + 0.3 * 50.0
        alpha = 1.0 - math.exp(-self.step_h / 1.5)
        held: dict[str, float] = {}
        n_steps = int(math.floor(end / self.step_h + 1e-9))
        for i in range(n_steps + 1):
            t_h = i * self.step_h
            if job_left <= 0:
                load, job_left = float(rng.uniform(30.0, 85.0)), float(rng.uniform(2.0, 6.0))
            job_left -= self.step_h
            w = self.wear(t_h)
            excess = w * (self.failure_mm_s - self.v_base)
            load_now = load + rng.normal(0.0, 1.5)
            v_healthy = self.v_base * (1.0 + 0.1 * (load_now - 55.0) / 55.0)
            vel = v_healthy * (1.0 + 0.03 * rng.normal()) + excess
            temp += alpha * (22.0 + 0.3 * load_now + 5.0 * excess - temp)
            values = {
                "spindle_vel": vel,
                "bearing_temp": temp + rng.normal(0.0, 0.15),
                "spindle_load": load_now,
                "spindle_power": 1.5 + 0.2 * load_now + 0.15 * excess + rng.normal(0.0, 0.1),
            }
            waves = (
                {"spindle_acc": self._waveform(v_healthy, w, excess)}
                if self.waveform_every and (i - self.waveform_offset) % self.waveform_every == 0
                else {}
            )
            values_out, waves_out = self._inject(t_h, values, waves, held)
            yield Reading(
                asset_id=self.asset.id,
                time=self.start + timedelta(hours=t_h),
                values=values_out,
                waveforms=waves_out,
            )

    def _waveform(self, v_healthy: float, w: float, excess: float) -> np.ndarray:
        rng = self.rng
        t = np.arange(N_SAMPLES) / FS
        # 1x tone carrying the healthy velocity (v_rms * sqrt2 * 2 pi f, mm -> m).
        a1 = v_healthy * math.sqrt(2.0) * 2.0 * math.pi * SHAFT_HZ / 1000.0
        x = a1 * np.sin(2 * np.pi * SHAFT_HZ * t + rng.uniform(0, 2 * np.pi))
        x += 0.5 * rng.standard_normal(N_SAMPLES)
        if excess > 0:
            # The wear's share of the ISO-band velocity, at the ball-pass frequency, so that the
            # velocity integrated from the waveform agrees with the velocity transmitter.
            v_wear = math.sqrt((v_healthy + excess) ** 2 - v_healthy**2)
            a_wear = v_wear * math.sqrt(2.0) * 2.0 * math.pi * self.freqs.bpfo / 1000.0
            x += a_wear * np.sin(2 * np.pi * self.freqs.bpfo * t + rng.uniform(0, 2 * np.pi))
        if w > 0:
            # Impact strength grows with the spall, in step with the vibration excess.
            amp = 5.0 * w
            period = 1.0 / self.freqs.bpfo
            count = int(N_SAMPLES / FS / period) + 2
            times = rng.uniform(0, period) + np.cumsum(
                period * (1 + 0.01 * rng.standard_normal(count))
            )
            idx = (times * FS).astype(int)
            idx = idx[idx < N_SAMPLES]
            pulses = np.zeros(N_SAMPLES)
            pulses[idx] = amp * (1.0 + 0.2 * rng.standard_normal(idx.size))
            x += np.convolve(pulses, self.kernel)[:N_SAMPLES]
        return x

    def _inject(
        self,
        t_h: float,
        values: dict[str, float],
        waves: dict[str, np.ndarray],
        held: dict[str, float],
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """What the instruments report: the true values altered by any active injection."""
        for inj in self.faults:
            if not inj.active(t_h):
                held.pop(inj.sensor, None)
                continue
            if inj.sensor not in values:  # a waveform sensor (captured on some readings only)
                if inj.sensor not in waves:
                    continue
                if inj.kind is FaultKind.FLATLINE:
                    waves[inj.sensor] = np.zeros(N_SAMPLES)
                elif inj.kind is FaultKind.NAN:
                    waves[inj.sensor] = np.full(N_SAMPLES, np.nan)
                elif inj.kind is FaultKind.DROPOUT:
                    del waves[inj.sensor]
                continue
            true = values[inj.sensor]
            if inj.kind is FaultKind.FLATLINE:
                # A dead sensor: a constant with converter noise.
                level = held.setdefault(inj.sensor, true)
                values[inj.sensor] = level + self.fault_rng.normal(0.0, 0.001)
            elif inj.kind is FaultKind.STUCK:
                values[inj.sensor] = held.setdefault(inj.sensor, true)
            elif inj.kind is FaultKind.NAN:
                values[inj.sensor] = math.nan
            elif inj.kind is FaultKind.JUMP:
                values[inj.sensor] = true + inj.magnitude
            elif inj.kind is FaultKind.OUT_OF_RANGE:
                values[inj.sensor] = inj.magnitude
            elif inj.kind is FaultKind.DROPOUT:
                del values[inj.sensor]
        return values, waves


__all__ = ["FS", "GEOMETRY", "N_SAMPLES", "SHAFT_HZ", "Injection", "MachineTwin", "spindle_asset"]


# -- scenarios ----------------------------------------------------------------------------------


def _status_changes(reports: list[tuple[float, HealthReport]]) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for t_h, report in reports:
        if not changes or changes[-1]["status"] != report.status.value:
            changes.append({"at_h": round(t_h, 2), "status": report.status.value})
    return changes


@scenario("bearing-wear")
def bearing_wear(seed: int) -> dict[str, Any]:
    """Healthy spindle, outer-race defect onset, run to failure: when did the agent warn?"""
    twin = MachineTwin(seed)
    agent = MachineAgent(twin.asset)
    reports = [(twin.hours(r.time), agent.assess(r)) for r in twin.readings()]
    at_least = {
        level: next(((t, r) for t, r in reports if r.status.rank >= level.rank), None)
        for level in (Status.AMBER, Status.RED)
    }
    amber, red = at_least[Status.AMBER], at_least[Status.RED]
    bearing = next(
        ((t, f) for t, r in reports for f in r.findings if " on spindle_acc: envelope" in f), None
    )
    false_ambers = sum(
        1 for t, r in reports if t < twin.onset_h and r.status.rank >= Status.AMBER.rank
    )
    rul = amber[1].rul if amber else None
    return {
        "asset_id": twin.asset.id,
        "readings": len(reports),
        "step_h": twin.step_h,
        "onset_at_h": round(twin.onset_h, 2),
        "failure_at_h": round(twin.failure_at_h, 2),
        "failure_velocity_mm_s": twin.failure_mm_s,
        "first_amber_at_h": round(amber[0], 2) if amber else None,
        "amber_lead_h": round(twin.failure_at_h - amber[0], 2) if amber else None,
        "first_amber_summary": amber[1].summary if amber else None,
        "first_red_at_h": round(red[0], 2) if red else None,
        "red_lead_h": round(twin.failure_at_h - red[0], 2) if red else None,
        "first_red_summary": red[1].summary if red else None,
        "false_amber_count": false_ambers,
        "first_bearing_finding": {"at_h": round(bearing[0], 2), "finding": bearing[1]}
        if bearing
        else None,
        "rul_at_first_amber_h": rul.model_dump(mode="json") if rul else None,
        "status_changes": _status_changes(reports),
    }


#: Sensor faults injected by the sensor-flatline scenario (the machine itself stays healthy).
FLATLINE_FAULTS = (
    Injection("spindle_vel", FaultKind.NAN, start_h=60.0, duration_h=1.5),
    Injection("spindle_load", FaultKind.DROPOUT, start_h=70.0, duration_h=1.0),
    Injection("bearing_temp", FaultKind.FLATLINE, start_h=80.0, duration_h=24.0),
    Injection("spindle_power", FaultKind.STUCK, start_h=110.0, duration_h=5.0),
    Injection("spindle_vel", FaultKind.JUMP, start_h=120.0, duration_h=1.0, magnitude=12.0),
)


@scenario("sensor-flatline")
def sensor_flatline(seed: int) -> dict[str, Any]:
    """A healthy spindle whose instruments fail: named as sensor faults, never a red machine."""
    twin = MachineTwin(seed, onset_h=math.inf, life_h=math.inf, faults=FLATLINE_FAULTS)
    agent = MachineAgent(twin.asset)
    reports = [(twin.hours(r.time), agent.assess(r)) for r in twin.readings(until_h=140.0)]
    flagged: dict[tuple[str, str], dict[str, Any]] = {}
    for t_h, report in reports:
        for fault in report.sensor_faults:
            entry = flagged.setdefault(
                (fault.sensor, fault.kind.value),
                {
                    "sensor": fault.sensor,
                    "kind": fault.kind.value,
                    "first_at_h": round(t_h, 2),
                    "readings": 0,
                    "detail": fault.detail,
                },
            )
            entry["readings"] += 1
            entry["last_at_h"] = round(t_h, 2)
    flat = [f for f in flagged.values() if f["kind"] == FaultKind.FLATLINE.value]
    worst = Status.worst(*(r.status for _, r in reports))
    return {
        "asset_id": twin.asset.id,
        "readings": len(reports),
        "injected": [
            {
                "sensor": i.sensor,
                "kind": i.kind.value,
                "start_h": i.start_h,
                "duration_h": i.duration_h,
            }
            for i in FLATLINE_FAULTS
        ],
        "sensor_faults": sorted(flagged.values(), key=lambda f: f["first_at_h"]),
        "flatlined_sensors": sorted({f["sensor"] for f in flat}),
        "worst_status": worst.value,
        "red_count": sum(1 for _, r in reports if r.status is Status.RED),
        "machine_findings": sorted({f for _, r in reports for f in r.findings}),
        "status_changes": _status_changes(reports),
    }
