"""Sense commands: simulate, replay, diagnose."""

from __future__ import annotations

import json

import typer

from orchestrator.cli.app import app


@app.command()
def simulate(
    scenario: str = typer.Option(..., help="bearing-wear | sensor-flatline | stock-shortage | compressor-drift"),
    seed: int = typer.Option(1, help="seed of the digital twin; same seed, same run"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Run a seeded digital-twin scenario through the agents and summarise it."""
    from agents.simulator.scenarios import run_scenario

    summary = run_scenario(scenario, seed=seed)
    if as_json:
        print(json.dumps(summary, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
