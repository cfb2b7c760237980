"""What an asset file declares about a machine: sensors, ISO class, bearing, thresholds.

``MachineAsset`` is both the validated content of an asset TOML file and the configuration of a
``MachineAgent``; plain tables and arrays only, so it round-trips through TOML and JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.bearing import DEFAULT_RATIO_THRESHOLD, BearingGeometry, DefectFrequencies
from agents.iso10816 import Foundation, MachineGroup, ZoneLimits, zone_limits
from agents.models import SensorKind, SensorSpec
from agents.sensor_faults import FaultSettings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limit(_Frozen):
    """Declared amber / red levels of one sensor or feature (value at or above = that status)."""

    amber: float | None = None
    red: float | None = None


class FailureLevel(_Frozen):
    """Level of an indicator at which the machine failed, learned from history, with its basis."""

    value: float
    basis: str = Field(min_length=1)  # e.g. "median at failure of 99 engines of the fleet"


class MachineThresholds(_Frozen):
    """When a machine turns amber or red. Every field can be overridden in the asset file."""

    # By sensor name or feature name ("spindle_acc.kurtosis"); a velocity sensor listed here
    # overrides its ISO 10816-3 zone limits.
    limits: dict[str, Limit] = Field(default_factory=dict)
    persistence: int = Field(default=3, ge=1)  # readings in a row before the status rises
    # Readings in a row below the status before it falls: clearing is slower than raising, so a
    # machine near a limit does not flicker between green and amber.
    clear_after: int = Field(default=12, ge=1)
    amber_rul_h: float = Field(default=72.0, gt=0)
    red_rul_h: float = Field(default=8.0, gt=0)
    anomaly_z: float = Field(default=8.0, gt=0)  # robust z that counts as anomalous
    rising_t: float = Field(default=3.0, gt=0)  # t-statistic of the slope that counts as rising
    trend_window_h: float = Field(default=48.0, gt=0)
    bearing_ratio: float = Field(default=DEFAULT_RATIO_THRESHOLD, gt=1)
    rul_horizon_h: float = Field(default=2000.0, gt=0)
    # Drift from the learned baseline, for indicators without a declared limit (agents.drift).
    drift_z: float = Field(default=8.0, gt=0)  # smoothed level, in z of the healthy level's spread
    drift_raw_z: float = Field(default=3.0, gt=0)  # the same level, in z of single readings
    drift_memory_h: float = Field(default=24.0, gt=0)  # a departure must beat the level this old
    drift_margin_z: float = Field(default=0.5, ge=0)  # ... by this many z of single readings
    drift_red_multiple: float = Field(default=4.0, gt=1)  # red: this many times the amber level
    # Failure levels learned from the asset's or the fleet's history: RUL without a declared limit.
    failure_levels: dict[str, FailureLevel] = Field(default_factory=dict)


class MachineAsset(_Frozen):
    """A machine as declared in an asset file (TOML-friendly: plain tables and arrays)."""

    id: str = Field(min_length=1)
    name: str = ""
    line: str | None = None
    machine_group: MachineGroup = MachineGroup.GROUP2
    foundation: Foundation = Foundation.RIGID
    sensors: tuple[SensorSpec, ...] = Field(min_length=1)
    bearing: BearingGeometry | None = None
    shaft_hz: float | None = Field(default=None, gt=0)
    defect_frequencies: DefectFrequencies | None = None  # maker's table; wins over geometry
    capabilities: tuple[str, ...] = ()
    bottleneck: bool = False
    thresholds: MachineThresholds = MachineThresholds()
    sensor_checks: FaultSettings = FaultSettings()
    commissioning_hours: float | None = Field(default=None, gt=0)
    commissioning_readings: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> MachineAsset:
        names = [s.name for s in self.sensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sensors: duplicate sensor names {dupes}")
        for s in self.sensors:
            unknown = [c for c in s.correlated_with if c not in names]
            if unknown:
                raise ValueError(f"sensors.{s.name}.correlated_with: unknown sensors {unknown}")
            if s.kind is SensorKind.VIBRATION_ACCELERATION and s.sampling_hz is None:
                raise ValueError(f"sensors.{s.name}: a waveform sensor needs sampling_hz")
        if self.bearing is not None and self.shaft_hz is None and self.defect_frequencies is None:
            raise ValueError("bearing: give shaft_hz too, the defect frequencies depend on speed")
        for table in ("limits", "failure_levels"):
            for key in getattr(self.thresholds, table):
                if key.split(".", 1)[0] not in names:
                    raise ValueError(
                        f"thresholds.{table}.{key}: no sensor named {key.split('.')[0]!r}"
                    )
        return self

    def frequencies(self) -> DefectFrequencies | None:
        """Bearing defect frequencies: given ones, else from geometry and shaft speed."""
        if self.defect_frequencies is not None:
            return self.defect_frequencies
        if self.bearing is not None and self.shaft_hz is not None:
            return DefectFrequencies.from_geometry(self.bearing, self.shaft_hz)
        return None

    def iso_limits(self) -> ZoneLimits:
        return zone_limits(self.machine_group, self.foundation)


__all__ = ["FailureLevel", "Limit", "MachineAsset", "MachineThresholds"]
