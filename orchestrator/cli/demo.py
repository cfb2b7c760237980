"""``autoops demo`` (the sample plant on embedded defaults) and ``autoops run`` (a plant file)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import typer

from orchestrator.cli.app import app


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Temporal's worker logs every polling hiccup at WARNING; keep the demo's terminal readable.
    logging.getLogger("temporalio").setLevel(logging.ERROR if not verbose else logging.INFO)


@app.command()
def demo(
    headless: bool = typer.Option(False, "--headless", help="no people: a scripted approver signs off"),
    until_done: bool = typer.Option(
        False, "--until-done", help="stop when the scenario's expected outcomes happened (exit 0) or time ran out (exit 1)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON object"),
    fresh: bool = typer.Option(False, "--fresh", help="forget the previous run's state and start the day anew"),
    tick: float = typer.Option(None, help="seconds of wall time per simulated hour (default 1.0, headless 0.2)"),
    config: Path = typer.Option(None, help="plant file (default: the sample plant Precision Components)"),
    state_dir: Path = typer.Option(None, help="state directory (default: the plant file's, .autoops)"),
    timeout: float = typer.Option(600.0, help="--until-done: give up after this many seconds"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the whole system on the sample plant and print where to look."""
    from orchestrator.demo import print_summary, run_demo

    _logging(verbose)
    code, summary = asyncio.run(
        run_demo(
            config_path=config,
            headless=headless,
            until_done=until_done,
            tick_s=tick,
            fresh=fresh,
            state_dir=state_dir,
            timeout_s=timeout,
        )
    )
    if summary is not None:
        print_summary(summary, as_json)
    _exit(code)


def _exit(code: int) -> None:
    """End the process once everything is stopped and written: the Temporal client's native
    threads can abort an interpreter that is finalizing (temporalio/sdk-python issue 300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def run(
    config: Path = typer.Option(..., help="plant file (TOML); [temporal] / [ray] addresses reach clusters"),
    tick: float = typer.Option(1.0, help="seconds between ticks of the loop"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the orchestrator for a plant file until Ctrl-C / SIGTERM (resumes where it stopped)."""
    from orchestrator.config import load_config
    from orchestrator.preflight import check_plant
    from orchestrator.process import Stack, install_stop_signals

    _logging(verbose)
    plant = load_config(config)
    check_plant(plant, source=str(config))  # every field checked before anything starts

    from orchestrator.roles import hold_whole_plant

    if plant.loop.partitions > 1:  # refused before anything starts (hold_whole_plant says why)
        asyncio.run(hold_whole_plant(plant, None))

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        from orchestrator.clock import plant_clock

        # One clock: a simulated plant runs on its twin's time at ``tick`` s per step.
        stack = await Stack.start(plant, clock=plant_clock(plant, tick))
        try:
            lease = await hold_whole_plant(plant, stack.orchestrator)
        except BaseException:
            await stack.stop()
            raise
        # Ray installed its own SIGTERM handlers while starting (exit at once, or abort): take
        # them back so a stop is a clean stop.
        install_stop_signals(stop)
        from agents.runtime.gc_tuning import tune_for_loop

        tune_for_loop()  # this process now carries the loop: its set-up is long-lived state
        print(f"autoops running for {plant.site}: web UI {stack.web_url}/ ; Ctrl-C to stop", flush=True)
        # Where it runs, so an operator sees at once that the plant file's clusters were used.
        ray_at = plant.ray.address or "local (started here)"
        temporal_at = stack.services.temporal_address
        if plant.temporal.address is None:
            temporal_at += " (embedded dev server)"
        print(f"  Temporal {temporal_at}, namespace {plant.temporal.namespace}, task queue "
              f"{plant.temporal.task_queue}; Ray {ray_at}", flush=True)
        for spec in plant.source_specs():
            print(f"  source {spec.id}: {spec.kind} {spec.endpoint}, {len(spec.tags)} tag(s)", flush=True)
        if not plant.simulation:
            for asset in plant.unsourced_assets():
                print(f"  warning: asset {asset!r} has no data source and will not report; map its "
                      "sensors to a [[sources]] tag (README: connect your first machine)", flush=True)
        try:
            await stack.run_loop(stop, tick_s=tick)
        finally:
            await stack.stop()
            if lease is not None:
                lease.cancel()
                await asyncio.gather(lease, return_exceptions=True)

    asyncio.run(main())
    _exit(0)
