"""Models born in the Sense layer: sensor declarations and the ``HealthReport`` every agent publishes.

All models are frozen pydantic models with ``extra="forbid"``: they cross process boundaries
(Ray, Temporal payloads, JSON on the CLI) and must not change or grow unknown fields on the way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.errors import SensorSpecError


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Status(StrEnum):
    """Traffic light of an asset. ``unknown`` only when there is no usable data at all."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _RANKS[self]  # a StrEnum member is its value's string: no ``.value`` lookup

    @staticmethod
    def worst(*statuses: Status) -> Status:
        return max(statuses, key=lambda s: s.rank, default=Status.UNKNOWN)


_RANKS = {"unknown": 0, "green": 1, "amber": 2, "red": 3}


class AssetKind(StrEnum):
    MACHINE = "machine"
    INVENTORY = "inventory"
    ENERGY = "energy"


class SensorKind(StrEnum):
    """What a sensor measures. Units accepted per kind are in ``UNITS``."""

    VIBRATION_VELOCITY = "vibration_velocity"  # RMS velocity, ISO 10816 quantity
    VIBRATION_ACCELERATION = "vibration_acceleration"  # raw waveform samples
    TEMPERATURE = "temperature"
    PRESSURE = "pressure"
    SPINDLE_LOAD = "spindle_load"
    POWER = "power"
    CURRENT = "current"
    SPEED = "speed"
    FLOW = "flow"
    CONDITION_INDICATOR = "condition_indicator"  # generic, any unit


class Degrades(StrEnum):
    """Which way an indicator moves as the machine wears: vibration rises, an efficiency falls."""

    RISE = "rise"
    FALL = "fall"
    EITHER = "either"


#: Units accepted per sensor kind. ``None`` means any unit is accepted.
UNITS: dict[SensorKind, frozenset[str] | None] = {
    SensorKind.VIBRATION_VELOCITY: frozenset({"mm/s", "in/s"}),
    SensorKind.VIBRATION_ACCELERATION: frozenset({"m/s2", "m/s^2", "g"}),
    SensorKind.TEMPERATURE: frozenset({"degC", "°C", "C", "K", "degF"}),
    SensorKind.PRESSURE: frozenset({"bar", "kPa", "Pa", "MPa", "psi"}),
    SensorKind.SPINDLE_LOAD: frozenset({"%", "percent", "Nm"}),
    SensorKind.POWER: frozenset({"kW", "W"}),
    SensorKind.CURRENT: frozenset({"A"}),
    SensorKind.SPEED: frozenset({"rpm", "Hz"}),
    SensorKind.FLOW: frozenset({"m3/min", "m3/h", "l/s", "Nm3/min"}),
    SensorKind.CONDITION_INDICATOR: None,
}


class SensorSpec(Frozen):
    """One declared sensor: its name (column / tag), kind, unit and plausible range."""

    name: str = Field(min_length=1)
    kind: SensorKind
    unit: str
    min: float | None = None  # physically plausible lower bound; below is an instrument fault
    max: float | None = None
    max_step: float | None = None  # largest plausible change between consecutive readings
    correlated_with: tuple[str, ...] = ()  # sensors that should move with this one
    sampling_hz: float | None = Field(default=None, gt=0)  # for waveform sensors
    # Direction of wear, for the drift rule (``agents.drift``). Unset: vibration and temperature
    # rise, a generic condition indicator may go either way, process sensors are not judged.
    degrades: Degrades | None = None

    @model_validator(mode="after")
    def _unit_fits_kind(self) -> SensorSpec:
        allowed = UNITS[self.kind]
        if allowed is not None and self.unit not in allowed:
            raise SensorSpecError(
                f"sensor {self.name!r}: unit {self.unit!r} does not fit kind {self.kind.value!r}; "
                f"use one of {sorted(allowed)}"
            )
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise SensorSpecError(
                f"sensor {self.name!r}: min {self.min} must be below max {self.max}"
            )
        return self


class Indicator(Frozen):
    """One number behind a status, with its unit and the thresholds it was judged against."""

    name: str
    value: float | None
    unit: str = ""
    amber_at: float | None = None
    red_at: float | None = None
    status: Status = Status.GREEN
    note: str = ""


class FaultKind(StrEnum):
    FLATLINE = "flatline"
    STUCK = "stuck"
    NAN = "nan"
    OUT_OF_RANGE = "out_of_range"
    DROPOUT = "dropout"
    JUMP = "jump"
    # Found by a source before the agent (agents/sources/): the tag gave no value.
    NO_DATA = "no_data"  # stale tag, server / broker / device unreachable, Sparkplug death
    BAD_QUALITY = "bad_quality"  # Bad status, type mismatch, garbage payload


class SensorFault(Frozen):
    """An instrument problem: 'check the sensor', never on its own a machine fault."""

    sensor: str
    kind: FaultKind
    detail: str
    since: datetime | None = None
    #: The asset whose instrument it is, when a roll-up report (a plant's energy) repeats a fault
    #: of a sub-asset that reports on its own; empty: the reporting asset's own instrument.
    asset: str = ""


class RulEstimate(Frozen):
    """Remaining useful life with an interval; ``unit`` is "h" for plant assets, "cycles" for fleets."""

    value: float = Field(ge=0)
    lower: float = Field(ge=0)
    upper: float = Field(ge=0)
    unit: str = "h"
    method: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> RulEstimate:
        if not (self.lower <= self.value <= self.upper):
            raise ValueError(f"RUL interval must hold lower <= value <= upper, got {self}")
        return self


class HealthReport(Frozen):
    """What an agent says about its asset at one moment. Published, stored, fed to policies.

    ``report_id`` is ``<asset_id>:<seq>``: a re-delivered report carries the same id, so consumers
    can drop duplicates.
    """

    report_id: str
    asset_id: str
    asset_kind: AssetKind
    seq: int = Field(ge=0)
    time: datetime
    status: Status
    health_score: float = Field(ge=0.0, le=1.0)
    indicators: tuple[Indicator, ...] = ()
    anomaly_score: float | None = None
    rul: RulEstimate | None = None
    sensor_faults: tuple[SensorFault, ...] = ()
    findings: tuple[
        str, ...
    ] = ()  # machine-fault evidence in words, e.g. "outer race defect (BPFO)"
    baseline_ready: bool = False
    summary: str = ""
    # The W3C traceparent of the assessment span that made this report (agents/runtime/tracing.py),
    # so the policy evaluation that reads it continues that trace; None when it was not traced.
    trace_parent: str | None = None

    def indicator(self, name: str) -> Indicator | None:
        return next((i for i in self.indicators if i.name == name), None)

    @staticmethod
    def make_id(asset_id: str, seq: int) -> str:
        return f"{asset_id}:{seq}"
