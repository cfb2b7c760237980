"""``autoops demo``: until the full stack exists, runs the simulator's plant-day scenarios."""

from __future__ import annotations

import json

import typer

from orchestrator.cli.app import app


@app.command()
def demo(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Run the demo scenarios and print what the agents saw."""
    from agents.simulator.scenarios import MODULES, run_scenario

    results = {name: run_scenario(name, seed=1) for name in MODULES}
    if as_json:
        print(json.dumps(results, default=str))
        return
    for name, summary in results.items():
        typer.echo(f"== {name}")
        for key, value in summary.items():
            typer.echo(f"   {key}: {value}")
