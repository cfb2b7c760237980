"""Named scenarios: each runs a seeded twin through its agent and returns a JSON-able summary.

Twin modules register their scenarios with ``@scenario(name)`` when imported; ``MODULES`` says
which module holds which scenario, so running one imports only its own twin (the machine twin
pulls in scipy.signal, which costs seconds on this machine).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from agents.errors import InputError

Scenario = Callable[[int], dict[str, Any]]

#: scenario name -> module under agents.simulator that registers it
MODULES: dict[str, str] = {
    "bearing-wear": "machine_twin",
    "sensor-flatline": "machine_twin",
    "stock-shortage": "stock_twin",
    "compressor-drift": "compressor_twin",
}
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn

    return register


def run_scenario(name: str, *, seed: int) -> dict[str, Any]:
    if name not in MODULES:
        raise InputError(f"unknown scenario {name!r}; choose one of {sorted(MODULES)}")
    importlib.import_module(f"agents.simulator.{MODULES[name]}")
    return {"scenario": name, "seed": seed, **SCENARIOS[name](seed)}
