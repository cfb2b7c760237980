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

from agents.models import HealthReport


@dataclass(frozen=True, slots=True)
class Reading:
    """Readings of one asset at one time.

    ``values`` holds scalar sensor values by sensor name (NaN / inf are allowed in: the agent flags
    them as sensor faults). ``waveforms`` holds raw sample windows (e.g. acceleration) by sensor
    name; their sampling rate is declared on the sensor.
    """

    asset_id: str
    time: datetime
    values: Mapping[str, float] = field(default_factory=dict)
    waveforms: Mapping[str, np.ndarray] = field(default_factory=dict)


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
