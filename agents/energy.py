"""Energy agents: per meter a learnt baseline, spikes and drift; per plant, which meter spiked.

A meter's reading carries ``power`` (kW) or ``energy_kwh`` (kWh since the previous reading), and
its *driver*: ``production_rate`` (units/h) for plant and line meters, ``flow`` (m³/min) for a
compressor. In the commissioning window the agent fits kW = a + b·driver; afterwards it reports
the excess over that baseline, flags spikes by a robust z of the sudden excess, and follows the
smoothed excess (for a compressor: the drift of its specific power, kW per m³/min) — amber when
it stays above a percentage for a sustained time. A compressor with a replacement offer gets the
payback of replacing it.

``PlantEnergyAgent`` holds one ``MeterAgent`` per meter of a system; a plant-level spike is
explained by the sub-meter with the largest sudden excess over its own baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agents.base import Reading
from agents.energy_config import CompressorSpec, EnergyMeter, EnergySystem, MeterKind
from agents.energy_math import (
    Baseline,
    fit_baseline,
    replacement_payback,
)
from agents.errors import ConfigError
from agents.models import AssetKind, FaultKind, HealthReport, Indicator, SensorFault, Status

SPIKE_RUN_IS_LEVEL = 3  # consecutive spike readings after which the new level is learnt


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _alpha(dt_h: float, tau_h: float) -> float:
    return 1.0 - math.exp(-max(dt_h, 0.0) / tau_h)


class MeterAgent:
    """One meter's baseline, spikes and drift. Deterministic; time from ``reading.time`` only."""

    def __init__(self, meter: EnergyMeter) -> None:
        self.meter = meter
        self._seq = 0
        self._last_time: datetime | None = None
        self._start: datetime | None = None
        self._train_x: list[float] = []
        self._train_kw: list[float] = []
        self._baseline: Baseline | None = None
        self._ew_kw: float | None = None  # smoothed power and smoothed baseline power: their ratio
        self._ew_pred: float | None = None  # is the sustained excess (compressor: SP drift)
        self._ew_x: float | None = None
        self._drift_since: dict[str, datetime | None] = {"amber": None, "red": None}
        self._run_flow_sum = 0.0  # mean driver while running, for the annual figures
        self._run_n = 0
        self._spike_run = 0  # consecutive spike readings

    @property
    def asset_id(self) -> str:
        return self.meter.meter_id

    def _power(
        self, reading: Reading, dt_h: float | None, faults: list[SensorFault]
    ) -> float | None:
        values, t = reading.values, reading.time
        if "power" in values:
            raw, name = values["power"], "power"
        elif "energy_kwh" in values:
            raw, name = values["energy_kwh"], "energy_kwh"
        else:
            faults.append(
                SensorFault(
                    sensor="power",
                    kind=FaultKind.DROPOUT,
                    since=t,
                    detail="no power or energy_kwh in this reading",
                )
            )
            return None
        value = _finite(raw)
        if value is None:
            faults.append(
                SensorFault(
                    sensor=name,
                    kind=FaultKind.NAN,
                    since=t,
                    detail=f"{name} {raw!r} is not a finite number; check the meter",
                )
            )
            return None
        if value < 0 or (
            self.meter.rated_kw and name == "power" and value > 2 * self.meter.rated_kw
        ):
            faults.append(
                SensorFault(
                    sensor=name,
                    kind=FaultKind.OUT_OF_RANGE,
                    since=t,
                    detail=f"{name} {value:g} outside 0..2x rated; check the meter",
                )
            )
            return None
        if name == "energy_kwh":
            if not dt_h:
                return None  # the first interval has no length yet
            return value / dt_h
        return value

    def assess(self, reading: Reading) -> HealthReport:
        """Take one meter reading and return the meter's health after it."""
        meter, t = self.meter, reading.time
        faults: list[SensorFault] = []
        if self._last_time is not None and t <= self._last_time:
            faults.append(
                SensorFault(
                    sensor="power",
                    kind=FaultKind.JUMP,
                    since=t,
                    detail=f"reading at {t.isoformat()} is not after the last "
                    f"one at {self._last_time.isoformat()}; ignored",
                )
            )
            return self._report(t, None, None, faults)
        dt_h = (t - self._last_time).total_seconds() / 3600.0 if self._last_time else None
        kw = self._power(reading, dt_h, faults)
        raw_x = reading.values.get(meter.driver)
        x = 0.0 if raw_x is None else _finite(raw_x)  # a meter without a driver: constant baseline
        if x is None or x < 0:
            faults.append(
                SensorFault(
                    sensor=meter.driver,
                    kind=FaultKind.NAN,
                    since=t,
                    detail=f"{meter.driver} {raw_x!r} is not a usable number",
                )
            )
            x = None
        self._last_time = t
        if self._start is None:
            self._start = t
        if kw is None or x is None:
            return self._report(t, kw, x, faults)

        if self._baseline is None:
            self._train_x.append(x)
            self._train_kw.append(kw)
            elapsed = (t - self._start).total_seconds() / 3600.0
            if elapsed >= meter.commissioning_h and len(self._train_x) >= meter.min_baseline_points:
                self._baseline = fit_baseline(self._train_x, self._train_kw)
                self._train_x, self._train_kw = [], []
            return self._report(t, kw, x, faults)
        return self._report(t, kw, x, faults, learn_dt=dt_h or 0.0)

    # -- reporting ------------------------------------------------------------------------------

    def _report(
        self,
        t: datetime,
        kw: float | None,
        x: float | None,
        faults: list[SensorFault],
        learn_dt: float | None = None,
    ) -> HealthReport:
        meter, base = self.meter, self._baseline
        seq = self._seq
        self._seq += 1
        indicators = [
            Indicator(name="power", value=kw, unit="kW"),
            Indicator(name=meter.driver, value=x, unit=meter.driver_unit),
        ]
        findings: list[str] = []
        status = Status.GREEN
        spike = False
        if base is not None and kw is not None and x is not None and learn_dt is not None:
            pred = base.predict(x)
            excess = kw - pred
            # The recent level is a ratio, not kW: drift scales with load (a compressor losing 10 %
            # loses more kW on the day shift), so an additive level would call every day a spike.
            ratio = self._ew_kw / self._ew_pred if self._ew_kw and self._ew_pred else 1.0
            sudden = kw - pred * ratio
            z = sudden / base.scale
            spike = z > meter.spike_z
            self._spike_run = self._spike_run + 1 if spike else 0
            # A spike must not drag the level, the drift or the yearly means; but a "spike" that
            # lasts is a new load level, and refusing to learn it would flag it forever.
            if not spike or self._spike_run > SPIKE_RUN_IS_LEVEL:
                a = _alpha(learn_dt, meter.smoothing_h)
                self._ew_kw = kw if self._ew_kw is None else self._ew_kw + a * (kw - self._ew_kw)
                self._ew_pred = (
                    pred if self._ew_pred is None else self._ew_pred + a * (pred - self._ew_pred)
                )
                self._ew_x = x if self._ew_x is None else self._ew_x + a * (x - self._ew_x)
                if x > 0:
                    self._run_flow_sum += x
                    self._run_n += 1
            indicators += [
                Indicator(name="baseline_kw", value=pred, unit="kW"),
                Indicator(name="excess_kw", value=excess, unit="kW"),
                Indicator(name="sudden_excess_kw", value=sudden, unit="kW"),
                Indicator(
                    name="spike_z",
                    value=z,
                    amber_at=meter.spike_z,
                    status=Status.AMBER if spike else Status.GREEN,
                ),
            ]
            if meter.driver == "production_rate" and x > 0:
                indicators += [
                    Indicator(name="energy_per_unit", value=kw / x, unit="kWh/unit"),
                    Indicator(name="baseline_energy_per_unit", value=pred / x, unit="kWh/unit"),
                ]
            if spike:
                status = Status.AMBER
                findings.append(
                    f"{meter.meter_id} spike: {kw:.0f} kW is {sudden:.0f} kW above its "
                    f"usual level at this load (z={z:.1f})"
                )
        drift_status, drift_pct = self._drift(t)
        status = Status.worst(status, drift_status)
        if drift_pct is not None:
            name = "drift_pct" if meter.kind is MeterKind.COMPRESSOR else "excess_pct"
            indicators.append(
                Indicator(
                    name=name,
                    value=drift_pct,
                    unit="%",
                    amber_at=meter.drift_amber_pct,
                    red_at=meter.drift_red_pct,
                    status=drift_status,
                    note=f"sustained {meter.drift_sustain_h:g} h",
                )
            )
        payback_text = self._compressor(indicators)
        if drift_status is not Status.GREEN and drift_pct is not None:
            if meter.kind is MeterKind.COMPRESSOR:
                findings.append(
                    f"compressor {meter.meter_id} draws {drift_pct:.0f}% more kW per "
                    f"m³/min than its baseline{payback_text}"
                )
            else:
                findings.append(
                    f"{meter.meter_id} uses {drift_pct:.0f}% more energy than its "
                    "baseline at the same production rate"
                )
        if drift_pct is None:
            score = 1.0
        else:
            score = min(1.0, max(0.0, 1.0 - max(0.0, drift_pct) / (2 * meter.drift_red_pct)))
        if spike:
            score = min(score, 0.7)
        ready = base is not None
        summary = f"{meter.meter_id}: " + (
            "; ".join(findings)
            if findings
            else f"{kw:.0f} kW" + ("" if ready else " (learning baseline)")
            if kw is not None
            else "no usable power value"
        )
        return HealthReport(
            report_id=HealthReport.make_id(self.asset_id, seq),
            asset_id=self.asset_id,
            asset_kind=AssetKind.ENERGY,
            seq=seq,
            time=t,
            status=status,
            health_score=score,
            indicators=tuple(indicators),
            sensor_faults=tuple(faults),
            findings=tuple(findings),
            baseline_ready=ready,
            summary=summary,
            anomaly_score=next((i.value for i in indicators if i.name == "spike_z"), None),
        )

    def _drift(self, t: datetime) -> tuple[Status, float | None]:
        """Smoothed excess in %, and the status once it has stayed above a threshold long enough."""
        if not self._ew_kw or not self._ew_pred or self._ew_pred <= 0:
            return Status.GREEN, None
        pct = 100.0 * (self._ew_kw / self._ew_pred - 1.0)
        status = Status.GREEN
        for level, threshold in (
            ("amber", self.meter.drift_amber_pct),
            ("red", self.meter.drift_red_pct),
        ):
            if pct < threshold:
                self._drift_since[level] = None
                continue
            since = self._drift_since[level] or t
            self._drift_since[level] = since
            if (t - since).total_seconds() / 3600.0 >= self.meter.drift_sustain_h:
                status = Status.AMBER if level == "amber" else Status.RED
        return status, pct

    def _compressor(self, indicators: list[Indicator]) -> str:
        """Specific power now vs. baseline and rated, and the replacement payback, if known."""
        spec = self.meter.compressor
        if spec is None and self.meter.kind is MeterKind.COMPRESSOR:
            spec = CompressorSpec()  # nameplate unknown: still report specific power and drift
        if spec is None or not self._ew_x or self._ew_kw is None or self._ew_pred is None:
            return ""
        sp_now, sp_base = self._ew_kw / self._ew_x, self._ew_pred / self._ew_x
        unit = "kW/(m3/min)"
        indicators += [
            Indicator(name="specific_power", value=sp_now, unit=unit),
            Indicator(name="baseline_specific_power", value=sp_base, unit=unit),
        ]
        if spec.rated_specific_power:
            indicators.append(
                Indicator(
                    name="specific_power_vs_rated_pct",
                    unit="%",
                    value=100.0 * (sp_now / spec.rated_specific_power - 1.0),
                )
            )
        mean_flow = self._run_flow_sum / self._run_n if self._run_n else self._ew_x
        excess_kwh = (sp_now - sp_base) * mean_flow * spec.operating_hours_per_year
        indicators.append(Indicator(name="annual_excess_kwh", value=excess_kwh, unit="kWh/a"))
        if spec.replacement_specific_power is None or spec.replacement_price is None:
            return ""
        pay = replacement_payback(
            specific_power_now=sp_now,
            specific_power_new=spec.replacement_specific_power,
            mean_flow=mean_flow,
            operating_hours_per_year=spec.operating_hours_per_year,
            tariff_per_kwh=spec.tariff_per_kwh,
            price=spec.replacement_price,
        )
        indicators += [
            Indicator(name="annual_saving_kwh", value=pay.annual_saving_kwh, unit="kWh/a"),
            Indicator(name="annual_saving", value=pay.annual_saving, unit=f"{spec.currency}/a"),
            Indicator(name="replacement_price", value=spec.replacement_price, unit=spec.currency),
            Indicator(name="payback_years", value=pay.payback_years, unit="a"),
        ]
        if pay.payback_years is None:
            return "; a replacement would not save energy"
        return f"; replacing it pays back in {pay.payback_years:.1f} years"

    # -- state ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "energy_meter",
            "meter_id": self.meter.meter_id,
            "seq": self._seq,
            "last_time": self._last_time.isoformat() if self._last_time else None,
            "start": self._start.isoformat() if self._start else None,
            "train_x": list(self._train_x),
            "train_kw": list(self._train_kw),
            "baseline": self._baseline.model_dump() if self._baseline else None,
            "ew_kw": self._ew_kw,
            "ew_pred": self._ew_pred,
            "ew_x": self._ew_x,
            "drift_since": {k: v.isoformat() if v else None for k, v in self._drift_since.items()},
            "spike_run": self._spike_run,
            "run_flow_sum": self._run_flow_sum,
            "run_n": self._run_n,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        if (
            snapshot.get("kind") != "energy_meter"
            or snapshot.get("meter_id") != self.meter.meter_id
        ):
            raise ConfigError(
                f"snapshot of {snapshot.get('kind')!r} {snapshot.get('meter_id')!r} does not fit "
                f"energy meter {self.meter.meter_id!r}; restore it into the agent of the same meter"
            )
        when = {
            k: datetime.fromisoformat(v) if v else None
            for k, v in (("last", snapshot.get("last_time")), ("start", snapshot.get("start")))
        }
        self._seq = int(snapshot["seq"])
        self._last_time, self._start = when["last"], when["start"]
        self._train_x = [float(v) for v in snapshot.get("train_x", [])]
        self._train_kw = [float(v) for v in snapshot.get("train_kw", [])]
        base = snapshot.get("baseline")
        self._baseline = Baseline.model_validate(base) if base else None
        self._ew_kw, self._ew_pred, self._ew_x = (
            snapshot.get(k) for k in ("ew_kw", "ew_pred", "ew_x")
        )
        since = snapshot.get("drift_since", {})
        self._drift_since = {
            k: datetime.fromisoformat(since[k]) if since.get(k) else None for k in ("amber", "red")
        }
        self._run_flow_sum = float(snapshot.get("run_flow_sum", 0.0))
        self._run_n = int(snapshot.get("run_n", 0))
        self._spike_run = int(snapshot.get("spike_run", 0))


EnergyAgent = MeterAgent  # the name design.md uses for one energy asset

__all__ = [
    "CompressorSpec",
    "EnergyAgent",
    "EnergyMeter",
    "EnergySystem",
    "MeterAgent",
    "MeterKind",
]
