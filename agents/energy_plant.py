"""The plant-level energy agent: all meters of a site, and which one explains a plant spike.

One reading carries every meter's values, keyed ``<meter_id>.<name>`` (``M-0.power``,
``C-1.flow``); keys without a dot (e.g. ``production_rate``) are shared by all meters that do not
have their own. The plant report is the main meter's report, with the worst status of all meters,
their key figures prefixed by meter id, and — when the main meter spikes — the sub-meter blamed for
it. ``last_reports`` holds every meter's own report so the runtime can publish them as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.base import Reading, with_source_faults
from agents.energy import EnergySystem, MeterAgent
from agents.energy_math import Attribution, attribute_reports
from agents.errors import ConfigError
from agents.models import AssetKind, HealthReport, Indicator, Status

#: Meter figures repeated on the plant report, so a policy on the plant sees them at a glance.
ROLLUP = ("power", "excess_pct", "drift_pct", "sudden_excess_kw", "specific_power", "payback_years")


def meter_reading(reading: Reading, meter_id: str) -> Reading:
    """The part of a plant reading that belongs to one meter."""
    values = {k: v for k, v in reading.values.items() if "." not in k}
    prefix = f"{meter_id}."
    values.update({k[len(prefix) :]: v for k, v in reading.values.items() if k.startswith(prefix)})
    faults = tuple(
        f.model_copy(update={"sensor": f.sensor[len(prefix) :]})
        for f in reading.source_faults
        if f.sensor.startswith(prefix)
    )
    return Reading(asset_id=meter_id, time=reading.time, values=values, source_faults=faults)


class PlantEnergyAgent:
    """Every meter of one ``EnergySystem``; its own report is the plant's."""

    def __init__(self, system: EnergySystem) -> None:
        self.system = system
        self.meters = {m.meter_id: MeterAgent(m) for m in system.meters}
        self.last_reports: dict[str, HealthReport] = {}
        self.last_attribution: Attribution | None = None
        self._seq = 0

    @property
    def asset_id(self) -> str:
        return self.system.system_id

    def assess(self, reading: Reading) -> HealthReport:
        """Assess every meter; return the plant report (meters' reports are in ``last_reports``)."""
        return self.assess_all(reading)[0]

    def assess_all(self, reading: Reading) -> list[HealthReport]:
        """The plant report first, then one report per meter, all for this reading."""
        reports = {}
        for mid, agent in self.meters.items():
            part = meter_reading(reading, mid)
            reports[mid] = with_source_faults(agent.assess(part), part)
        self.last_reports = reports
        main_id = self.system.main.meter_id
        main = reports[main_id]
        findings = list(main.findings)
        indicators = list(main.indicators)
        self.last_attribution = None
        spike = main.indicator("spike_z")
        if spike is not None and spike.status is not Status.GREEN:
            children = [reports[m.meter_id] for m in self.system.children(main_id)]
            attribution = attribute_reports(main, children)
            self.last_attribution = attribution
            findings.append(attribution.describe(main_id))
            indicators.append(
                Indicator(
                    name="spike_source_share",
                    value=attribution.share,
                    note=attribution.meter_id or "unmetered",
                )
            )
        for mid, report in reports.items():
            if mid == main_id:
                continue
            findings += [f for f in report.findings if f not in findings]
            # model_construct: these indicators were validated a moment ago; only the name changes.
            indicators += [
                Indicator.model_construct(**{**dict(i), "name": f"{mid}.{i.name}"})
                for i in report.indicators
                if i.name in ROLLUP
            ]
        faults = [
            f.model_copy(update={"sensor": f"{mid}.{f.sensor}", "asset": f.asset or mid})
            for mid, r in reports.items()
            for f in r.sensor_faults
        ]
        status = Status.worst(*(r.status for r in reports.values()))
        seq = self._seq
        self._seq += 1
        power = main.indicator("power")
        head = (
            f"{self.asset_id}: {power.value:.0f} kW"
            if power and power.value is not None
            else f"{self.asset_id}: no plant power"
        )
        plant = HealthReport(
            report_id=HealthReport.make_id(self.asset_id, seq),
            asset_id=self.asset_id,
            asset_kind=AssetKind.ENERGY,
            seq=seq,
            time=reading.time,
            status=status,
            health_score=min(r.health_score for r in reports.values()),
            indicators=tuple(indicators),
            sensor_faults=tuple(faults),
            findings=tuple(findings),
            anomaly_score=main.anomaly_score,
            baseline_ready=all(r.baseline_ready for r in reports.values()),
            summary="; ".join([head, *findings]),
        )
        return [plant, *reports.values()]

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "energy_plant",
            "system_id": self.asset_id,
            "seq": self._seq,
            "meters": {mid: agent.snapshot() for mid, agent in self.meters.items()},
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        if snapshot.get("kind") != "energy_plant" or snapshot.get("system_id") != self.asset_id:
            raise ConfigError(
                f"snapshot of {snapshot.get('kind')!r} {snapshot.get('system_id')!r} does not fit "
                f"energy system {self.asset_id!r}; restore it into the agent of the same system"
            )
        missing = set(self.meters) - set(snapshot.get("meters", {}))
        if missing:
            raise ConfigError(f"snapshot of {self.asset_id!r} lacks meters {sorted(missing)}")
        for mid, agent in self.meters.items():
            agent.restore(snapshot["meters"][mid])
        self._seq = int(snapshot["seq"])


__all__ = ["EnergySystem", "PlantEnergyAgent", "meter_reading"]
