"""Named scenarios: each runs a seeded twin through its agent and returns a JSON-able summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.errors import InputError

Scenario = Callable[[int], dict[str, Any]]

SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn

    return register


def _load_all() -> None:
    # Each twin module registers its scenarios on import. Add new modules here.
    import importlib

    for module in ("machine_twin", "stock_twin", "compressor_twin"):
        try:
            importlib.import_module(f"agents.simulator.{module}")
        except ModuleNotFoundError as exc:  # a twin not written yet must not break the others
            if exc.name != f"agents.simulator.{module}":
                raise


def run_scenario(name: str, *, seed: int) -> dict[str, Any]:
    _load_all()
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    return {"scenario": name, "seed": seed, **SCENARIOS[name](seed)}
