"""What every agent looks like from the outside: readings in, health reports out, state to save.

The Ray runtime (``agents/runtime``) hosts any object that satisfies ``Agent``; the decision logic
lives in plain classes (``agents/machine.py``, ``agents/inventory.py``, ``agents/energy.py``) that
are unit-tested without Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agents.models import HealthReport, SensorFault


@dataclass(frozen=True, slots=True)
class Reading:
    """Readings of one asset at one time.

    ``values`` holds scalar sensor values by sensor name (NaN / inf are allowed in: the agent flags
    them as sensor faults). ``waveforms`` holds raw sample windows (e.g. acceleration) by sensor
    name; their sampling rate is declared on the sensor. ``source_faults`` are instrument faults a
    source found before the agent (no data, Bad status, garbage payload): those sensors have no
    value here and the agent's report carries these faults for them (``with_source_faults``).
    """

    asset_id: str
    time: datetime
    values: Mapping[str, float] = field(default_factory=dict)
    waveforms: Mapping[str, np.ndarray] = field(default_factory=dict)
    source_faults: tuple[SensorFault, ...] = ()


def with_source_faults(report: HealthReport, reading: Reading) -> HealthReport:
    """The report with the source's faults for its sensors in place of the agent's guess.

    The agent sees a sensor without a value and says "dropout"; the source knew why (server
    down, Bad status, a string where a number belongs): its reason wins, one fault per sensor.
    """
    if not reading.source_faults or report.asset_id != reading.asset_id:
        return report
    named = {f.sensor for f in reading.source_faults}
    kept = tuple(f for f in report.sensor_faults if f.sensor not in named)
    return report.model_copy(update={"sensor_faults": (*kept, *reading.source_faults)})


@runtime_checkable
class Agent(Protocol):
    """An asset's agent. Deterministic given its readings; no clock of its own."""

    @property
    def asset_id(self) -> str: ...

    def assess(self, reading: Reading) -> HealthReport:
        """Take one reading and return the asset's health after it."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume (baseline, trend, sequence number), as JSON-able data."""
        ...

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Resume from a snapshot taken by ``snapshot`` of an agent with the same configuration."""
        ...


def assess_batch(agent: Agent, readings: Sequence[Reading]) -> list[HealthReport]:
    """Assess readings in order; the Ray runtime calls this once per batch."""
    return [agent.assess(r) for r in readings]
