"""Configuration of energy meters: what each measures, where it hangs, and how it is judged.

Typed from the ``[[energy]]`` tables of the plant configuration; the agents are in
``agents/energy.py`` and ``agents/energy_plant.py``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from agents.models import Frozen


class MeterKind(StrEnum):
    PLANT_MAIN = "plant_main"
    SUB_METER = "sub_meter"
    COMPRESSOR = "compressor"


class CompressorSpec(Frozen):
    """Nameplate of a compressor and the offer for its replacement."""

    rated_specific_power: float | None = Field(default=None, gt=0)  # kW per m³/min
    rated_flow: float | None = Field(default=None, gt=0)  # m³/min
    replacement_specific_power: float | None = Field(default=None, gt=0)
    replacement_price: float | None = Field(default=None, ge=0)
    currency: str = "EUR"
    tariff_per_kwh: float = Field(default=0.18, ge=0)
    operating_hours_per_year: float = Field(default=6000.0, gt=0, le=8784)


class EnergyMeter(Frozen):
    """One meter: what it measures, where it hangs, and how it is judged."""

    meter_id: str = Field(min_length=1)
    kind: MeterKind = MeterKind.SUB_METER
    parent: str | None = None
    description: str = ""
    line: str = ""
    rated_kw: float | None = Field(default=None, gt=0)
    compressor: CompressorSpec | None = None
    commissioning_h: float = Field(default=72.0, gt=0)
    min_baseline_points: int = Field(default=12, ge=2)
    spike_z: float = Field(default=6.0, gt=0)
    drift_amber_pct: float = Field(default=10.0, gt=0)
    drift_red_pct: float = Field(default=25.0, gt=0)
    drift_sustain_h: float = Field(default=12.0, ge=0)
    smoothing_h: float = Field(default=24.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> EnergyMeter:
        if self.drift_red_pct <= self.drift_amber_pct:
            raise ValueError(
                f"meter {self.meter_id!r}: drift_red_pct ({self.drift_red_pct}) must exceed "
                f"drift_amber_pct ({self.drift_amber_pct})"
            )
        return self

    @property
    def driver(self) -> str:
        return "flow" if self.kind is MeterKind.COMPRESSOR else "production_rate"

    @property
    def driver_unit(self) -> str:
        return "m3/min" if self.kind is MeterKind.COMPRESSOR else "units/h"


class EnergySystem(Frozen):
    """The meters of one site: exactly one plant main meter, the others hang below it."""

    system_id: str = Field(min_length=1)
    meters: tuple[EnergyMeter, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tree(self) -> EnergySystem:
        ids = [m.meter_id for m in self.meters]
        if len(ids) != len(set(ids)):
            raise ValueError(f"energy system {self.system_id!r}: duplicate meter ids in {ids}")
        mains = [m.meter_id for m in self.meters if m.kind is MeterKind.PLANT_MAIN]
        if len(mains) != 1:
            raise ValueError(
                f"energy system {self.system_id!r}: needs exactly one meter of kind plant_main, "
                f"found {mains}"
            )
        for meter in self.meters:
            if meter.parent is not None and meter.parent not in ids:
                raise ValueError(f"meter {meter.meter_id!r}: unknown parent {meter.parent!r}")
        return self

    @property
    def main(self) -> EnergyMeter:
        return next(m for m in self.meters if m.kind is MeterKind.PLANT_MAIN)

    def children(self, meter_id: str) -> tuple[EnergyMeter, ...]:
        main = self.main.meter_id
        return tuple(
            m for m in self.meters if m.meter_id != meter_id and (m.parent or main) == meter_id
        )


__all__ = ["CompressorSpec", "EnergyMeter", "EnergySystem", "MeterKind"]
