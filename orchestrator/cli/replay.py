"""`autoops replay`: recorded readings through a machine agent, one health report per reading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.app import app


@app.command()
def replay(
    # Annotated keeps the required Path options free of calls in their defaults (ruff B008).
    asset: Annotated[Path, typer.Option(help="asset file (TOML): id, sensors, machine class")],
    readings: Annotated[
        Path, typer.Option(help="CSV: timestamp column, then one column per declared sensor")
    ],
    commissioning_hours: float | None = typer.Option(
        None, help="learn the baseline over this many hours of readings (overrides the asset)"
    ),
    commissioning_readings: int | None = typer.Option(
        None, help="learn the baseline from this many readings (overrides the asset)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON health report per line"),
) -> None:
    """Replay recorded readings through the asset's agent and print its health reports."""
    from agents.errors import ConfigError
    from agents.machine import MachineAgent, MachineAsset
    from agents.replay import load_asset_toml, read_readings_csv

    machine = load_asset_toml(asset)
    if commissioning_hours is not None and commissioning_readings is not None:
        raise ConfigError("give --commissioning-hours or --commissioning-readings, not both")
    if commissioning_hours is not None or commissioning_readings is not None:
        if commissioning_hours is not None and not commissioning_hours > 0:
            raise ConfigError(f"--commissioning-hours must be > 0, got {commissioning_hours}")
        if commissioning_readings is not None and commissioning_readings < 1:
            raise ConfigError(
                f"--commissioning-readings must be >= 1, got {commissioning_readings}"
            )
        # The command line replaces the asset file's window, both of its fields.
        machine = MachineAsset.model_validate(
            {
                **machine.model_dump(),
                "commissioning_hours": commissioning_hours,
                "commissioning_readings": commissioning_readings,
            }
        )
    # Read the whole file before assessing, so a bad row stops the run before any report is out.
    rows = list(read_readings_csv(readings, machine.id, machine.sensors))
    agent = MachineAgent(machine)
    for reading in rows:
        report = agent.assess(reading)
        if as_json:
            print(report.model_dump_json())
        else:
            line = f"{report.time.isoformat()} {report.status.value:7s} {report.health_score:.2f}"
            print(f"{line} {report.summary}".rstrip())
    if not as_json:
        print(f"{len(rows)} readings of {machine.id} replayed")
