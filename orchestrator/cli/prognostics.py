"""``autoops prognostics``: fit a fleet remaining-useful-life model and predict with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.app import app

prognostics_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="prognostics",
    no_args_is_help=True,
    help="Fleet remaining useful life: fit on run-to-failure histories, predict for running units.",
)
app.add_typer(prognostics_app, name="prognostics")

HISTORY_HELP = "history file: one row per (unit, cycle)"
FORMAT_HELP = "cmapss (NASA C-MAPSS text, 26 columns) or csv (header: unit,cycle,<features...>)"


def _check_out(out: Path) -> None:
    """The model file can be written: its folder exists and is writable, and it is no folder."""
    import os

    from agents.errors import InputError

    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise InputError("--out is a directory; give a file name for the model", file=str(out))
    if not folder.is_dir():
        raise InputError(
            f"--out: folder {str(folder)!r} does not exist; create it first", file=str(out)
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"--out: folder {str(folder)!r} is not writable", file=str(out))


@prognostics_app.command("fit")
def fit(
    history: Annotated[Path, typer.Option("--history", help=f"run-to-failure {HISTORY_HELP}")],
    out: Annotated[Path, typer.Option("--out", help="where to write the model file")],
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "cmapss",
    cap: Annotated[
        float, typer.Option("--cap", min=1.0, help="RUL cap of the piecewise-linear target, cycles")
    ] = 125.0,
    folds: Annotated[int, typer.Option("--folds", min=2, help="grouped CV folds (by unit)")] = 5,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=2**32 - 1, help="seed of the CV truncation points"),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the CV report as JSON")] = False,
) -> None:
    """Cross-validate grouped by unit, print the RMSE, then fit on every unit and save the model."""
    from agents.fleet_data import read_history
    from agents.prognostics import RulConfig, fit_with_cv, save_model

    _check_out(out)  # before the cross-validation, which takes minutes on a big history
    data = read_history(history, fmt)
    config = RulConfig(cap=cap, n_splits=folds, seed=seed)
    model = fit_with_cv(data, config, trained_at=datetime.now(UTC))
    save_model(model, out)
    info = model.info
    assert info is not None and info.cv is not None  # fit_with_cv always sets both
    cv = info.cv
    if as_json:
        print(json.dumps({"model": str(out), **info.model_dump(mode="json")}))
        return
    typer.echo(f"grouped-CV RMSE: {cv.rmse:.2f} cycles (RUL capped at {cap:g})")
    typer.echo(f"  protocol: {cv.protocol}")
    typer.echo(
        f"  {cv.n_points} truncation points: MAE {cv.mae:.2f}, RMSE vs uncapped RUL "
        f"{cv.rmse_uncapped:.2f}, PHM08 score {cv.phm08_score:.0f} "
        f"({cv.phm08_score_per_100_units:.0f} per 100 units)"
    )
    typer.echo(f"  every held-out row with true RUL <= {cap:g}: RMSE {cv.rmse_all_rows:.2f}")
    typer.echo(
        f"  {info.n_units} units, {info.n_rows} rows, {len(info.sensors)} sensors used, "
        f"dropped as constant or settings: {', '.join(info.dropped) or 'none'}; "
        f"{info.n_regimes} operating regime(s)"
    )
    typer.echo(
        f"  CV {cv.seconds:.1f} s, final fit {info.fit_seconds:.1f} s; model written to {out}"
    )


@prognostics_app.command("predict")
def predict(
    model: Annotated[Path, typer.Option("--model", help="model file written by 'prognostics fit'")],
    history: Annotated[Path, typer.Option("--history", help=HISTORY_HELP)],
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "cmapss",
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object {unit: rul}")
    ] = False,
    interval: Annotated[
        bool, typer.Option("--interval", help="with --json: {unit: {value, lower, upper}} instead")
    ] = False,
) -> None:
    """Predict the RUL (cycles) at the last row of every unit in the history."""
    from agents.fleet_data import read_history
    from agents.prognostics import load_model

    rul_model = load_model(model)
    estimates = rul_model.predict_last(read_history(history, fmt))
    if as_json:
        if interval:
            print(
                json.dumps(
                    {
                        u: e.model_dump(include={"value", "lower", "upper"})
                        for u, e in estimates.items()
                    }
                )
            )
        else:
            print(json.dumps({u: e.value for u, e in estimates.items()}))
        return
    width = max((len(u) for u in estimates), default=4)
    coverage = rul_model.intervals.coverage if rul_model.intervals else 0.0
    typer.echo(f"{'unit':>{width}}  RUL (cycles)  {coverage:.0%} interval")
    for unit, est in estimates.items():
        typer.echo(f"{unit:>{width}}  {est.value:12.1f}  [{est.lower:.1f}, {est.upper:.1f}]")
