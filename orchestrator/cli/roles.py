"""``autoops worker`` / ``autoops web`` / ``autoops loop``: one role of the orchestrator per process
(``autoops run`` runs all of them in one). See orchestrator/roles.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import typer

from orchestrator.cli.app import app
from orchestrator.cli.demo import _exit, _logging

CONFIG_HELP = "plant file (TOML); every role needs [temporal] address, see README: The roles as separate processes"


def _serve(config: Path, verbose: bool, role: str, body: Callable[..., Awaitable[None]], **kwargs: object) -> None:
    from orchestrator.config import load_config
    from orchestrator.preflight import check_plant
    from orchestrator.process import install_stop_signals
    from orchestrator.roles import check_role_config

    _logging(verbose)
    plant = load_config(config)
    check_plant(plant, source=str(config))
    check_role_config(plant, role)  # before anything starts: say what the role is missing

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)

        def ready(line: str) -> None:
            install_stop_signals(stop)  # Ray, when the role joins it, took SIGTERM: take it back
            print(line, flush=True)

        await body(plant, stop, on_ready=ready, **kwargs)

    asyncio.run(main())
    _exit(0)


@app.command()
def worker(
    config: Path = typer.Option(..., help=CONFIG_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run a Temporal worker for the plant's workflows and activities (replicate freely)."""
    from orchestrator.roles import run_worker

    _serve(config, verbose, "worker", run_worker)


@app.command()
def web(
    config: Path = typer.Option(..., help=CONFIG_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Serve the web UI / API and the partners' callbacks (replicate behind one address)."""
    from orchestrator.roles import run_web

    _serve(config, verbose, "web", run_web)


@app.command()
def loop(
    config: Path = typer.Option(..., help=CONFIG_HELP),
    tick: float = typer.Option(1.0, help="seconds between ticks of the loop"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the loop (ingest -> agents -> policies -> workflows) for the partitions this process
    leases ([loop] partitions); start several: a dead one's partitions are taken over."""
    from orchestrator.roles import run_loop

    _serve(config, verbose, "loop", run_loop, tick_s=tick)
