"""Digital twin of a plant's electricity: two lines, a compressor that slowly loses efficiency, one spike.

One step is one simulated hour. Line load follows the production rate of each line (day shifts
full, the night shift at 30 %, with noise); the compressed-air demand follows total production
plus leakage; the compressor's specific power (kW per m³/min) creeps up from ``drift_start_h`` at
``drift_pct_per_day``. The plant main meter sees lines + compressor + unmetered base load. At
``spike_at_h`` a heater on line B sticks on for one hour.

Scenario ``compressor-drift``: is the drift flagged, what does a replacement pay back, and is the
spike blamed on the right sub-meter?
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from agents.base import Reading
from agents.energy import CompressorSpec, EnergyMeter, EnergySystem, MeterKind
from agents.energy_plant import PlantEnergyAgent
from agents.models import Status
from agents.simulator.scenarios import scenario

START = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday, 00:00
SYSTEM_ID = "energy:precision-components"


def plant_system() -> EnergySystem:
    """The sample plant's meters: main, line A, line B, compressor C-1 (with a replacement offer)."""
    return EnergySystem(
        system_id=SYSTEM_ID,
        meters=(
            EnergyMeter(
                meter_id="M-0",
                kind=MeterKind.PLANT_MAIN,
                description="plant incomer",
                rated_kw=900.0,
            ),
            EnergyMeter(
                meter_id="SM-A",
                parent="M-0",
                line="A",
                description="line A (mills)",
                rated_kw=250.0,
            ),
            EnergyMeter(
                meter_id="SM-B",
                parent="M-0",
                line="B",
                description="line B (lathes, furnace)",
                rated_kw=250.0,
            ),
            EnergyMeter(
                meter_id="C-1",
                kind=MeterKind.COMPRESSOR,
                parent="M-0",
                rated_kw=90.0,
                description="screw compressor 75 kW",
                compressor=CompressorSpec(
                    rated_specific_power=6.4,
                    rated_flow=12.0,
                    replacement_specific_power=5.6,
                    replacement_price=32000.0,
                    tariff_per_kwh=0.18,
                    operating_hours_per_year=6000.0,
                ),
            ),
        ),
    )


@dataclass
class CompressorTwin:
    """Hourly plant readings keyed ``<meter>.<name>``; ``readings()`` runs until the caller stops."""

    seed: int
    rate_a: float = 120.0  # parts/h on a full shift
    rate_b: float = 80.0
    specific_power: float = 6.5  # kW per m³/min when new-ish
    drift_start_h: float = 240.0
    drift_pct_per_day: float = 0.5
    spike_at_h: float | None = 500.0
    spike_kw: float = 60.0
    base_load_kw: float = 40.0
    start: datetime = START

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.now = self.start

    @property
    def hours(self) -> float:
        return (self.now - self.start).total_seconds() / 3600.0

    def true_drift_pct(self, hours: float | None = None) -> float:
        h = self.hours if hours is None else hours
        return self.drift_pct_per_day * max(0.0, h - self.drift_start_h) / 24.0

    def step(self) -> Reading:
        rng, h = self._rng, self.hours
        shift = 1.0 if 6 <= self.now.hour < 22 else 0.3
        rate_a = max(0.0, self.rate_a * shift * (1 + 0.05 * rng.standard_normal()))
        rate_b = max(0.0, self.rate_b * shift * (1 + 0.05 * rng.standard_normal()))
        kw_a = 35.0 + 0.5 * rate_a + rng.normal(0, 1.0)
        kw_b = 25.0 + 0.6 * rate_b + rng.normal(0, 1.0)
        if self.spike_at_h is not None and h == self.spike_at_h:
            kw_b += self.spike_kw
        flow = 2.0 + 0.03 * (rate_a + rate_b) + rng.normal(0, 0.1)  # leakage + use
        sp = self.specific_power * (1 + self.true_drift_pct(h) / 100.0)
        kw_c = sp * flow * (1 + 0.015 * rng.standard_normal())
        main = kw_a + kw_b + kw_c + self.base_load_kw + rng.normal(0, 1.5)
        reading = Reading(
            asset_id=SYSTEM_ID,
            time=self.now,
            values={
                "production_rate": rate_a + rate_b,
                "M-0.power": main,
                "SM-A.power": kw_a,
                "SM-A.production_rate": rate_a,
                "SM-B.power": kw_b,
                "SM-B.production_rate": rate_b,
                "C-1.power": kw_c,
                "C-1.flow": flow,
            },
        )
        self.now += timedelta(hours=1)
        return reading

    def readings(self, hours: float | None = None) -> Iterator[Reading]:
        while hours is None or self.hours < hours:
            yield self.step()


@scenario("compressor-drift")
def compressor_drift(seed: int, *, horizon_h: float = 45 * 24.0) -> dict[str, Any]:
    """Forty-five days of the plant: drift of C-1 flagged, its payback, the spike's source."""
    twin = CompressorTwin(seed=seed)
    agent = PlantEnergyAgent(plant_system())
    first_amber_h: float | None = None
    drift_at_amber: float | None = None
    spikes: list[tuple[float, str | None]] = []
    for reading in twin.readings(horizon_h):
        h = (reading.time - twin.start).total_seconds() / 3600.0
        agent.assess(reading)
        compressor = agent.last_reports["C-1"]
        drift = compressor.indicator("drift_pct")
        if first_amber_h is None and drift is not None and drift.status.rank >= Status.AMBER.rank:
            first_amber_h, drift_at_amber = h, drift.value
        if agent.last_attribution is not None:
            spikes.append((h, agent.last_attribution.meter_id))
    final = agent.last_reports["C-1"]

    def fig(name: str) -> float | None:
        indicator = final.indicator(name)
        return indicator.value if indicator else None

    injected = twin.spike_at_h
    hit = next((m for h, m in spikes if injected is not None and h == injected), None)
    return {
        "compressor": "C-1",
        "drift_start_at_h": twin.drift_start_h,
        "first_amber_at_h": first_amber_h,
        "drift_pct_at_first_amber": drift_at_amber,
        "true_drift_pct_at_first_amber": twin.true_drift_pct(first_amber_h)
        if first_amber_h
        else None,
        "drift_pct": fig("drift_pct"),
        "true_drift_pct": twin.true_drift_pct(),
        "specific_power": fig("specific_power"),
        "baseline_specific_power": fig("baseline_specific_power"),
        "annual_saving": fig("annual_saving"),
        "payback_years": fig("payback_years"),
        "finding": next((f for f in final.findings if f.startswith("compressor")), None),
        "spike_injected_at_h": injected,
        "spike_meter": "SM-B",
        "spike_blamed_meter": hit,
        "plant_spikes_flagged": len(spikes),
        "final_status": final.status.value,
    }


__all__ = ["CompressorTwin", "compressor_drift", "plant_system"]
