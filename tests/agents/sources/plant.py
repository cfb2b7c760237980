"""A small plant of its own for the source tests: a press and a pump, no simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config import PlantConfig, load_config

MACHINES = """\
site = "test-works"
name = "Test Works"

[[machines]]
id = "press-1"
name = "Hydraulic press 1"
sensors = [
  { name = "oil_temp", kind = "temperature", unit = "degC", min = -20.0, max = 150.0 },
  { name = "pressure", kind = "pressure", unit = "bar", min = 0.0, max = 400.0 },
  { name = "motor_power", kind = "power", unit = "kW", min = 0.0, max = 200.0 },
  { name = "speed", kind = "speed", unit = "rpm", min = 0.0, max = 4000.0 },
  { name = "load", kind = "spindle_load", unit = "%", min = 0.0, max = 150.0 },
  { name = "vel", kind = "vibration_velocity", unit = "mm/s", min = 0.0, max = 50.0 },
]

[[machines]]
id = "pump-1"
name = "Cooling pump 1"
sensors = [
  { name = "bearing_temp", kind = "temperature", unit = "degC", min = -20.0, max = 150.0 },
  { name = "flow", kind = "flow", unit = "m3/h", min = 0.0, max = 500.0 },
  { name = "current", kind = "current", unit = "A", min = 0.0, max = 100.0 },
  { name = "vel", kind = "vibration_velocity", unit = "mm/s", min = 0.0, max = 50.0 },
]
"""


def write_plant(tmp: Path, sources: str, *, name: str = "plant.toml") -> Path:
    path = tmp / name
    path.write_text(MACHINES + "\n" + sources, encoding="utf-8")
    return path


def plant(tmp: Path, sources: str) -> PlantConfig:
    return load_config(write_plant(tmp, sources), environ={})


def only(specs: Any) -> Any:
    (spec,) = specs
    return spec
