"""``autoops policy``: list, test, validate and backtest the policies as code."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from agents.errors import PolicyError
from orchestrator.cli.app import app

policy_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="policy",
    no_args_is_help=True,
    help="Policies as code: list, test their cases, validate, backtest.",
)
app.add_typer(policy_app, name="policy")

DIRS_HELP = "extra policy directory (repeatable); the built-in library is always loaded"


@policy_app.command("list")
def list_policies(
    dirs: Annotated[list[Path] | None, typer.Option("--dir", help=DIRS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
) -> None:
    """List loaded policies: id, version, owner, autonomy."""
    from policies.loader import load_all

    files = load_all(dirs or ())
    rows = [
        {
            "id": pf.loaded.policy.id,
            "version": pf.loaded.policy.version,
            "owner": pf.loaded.policy.owner,
            "autonomy": pf.loaded.policy.autonomy.value,
            "description": pf.loaded.policy.description,
            "file": pf.loaded.path,
            "cases": len(pf.cases or ()),
        }
        for pf in files
    ]
    if as_json:
        print(json.dumps(rows))
        return
    typer.echo(f"{'ID':<22} {'VERSION':<9} {'OWNER':<26} AUTONOMY")
    for r in rows:
        typer.echo(f"{r['id']:<22} {r['version']:<9} {r['owner']:<26} {r['autonomy']}")


@policy_app.command("test")
def test_policies(
    path: Annotated[
        Path | None,
        typer.Argument(help="a policy file or directory; default: the built-in library"),
    ] = None,
) -> None:
    """Run every policy's cases; exit 1 if a case fails or a policy has no cases."""
    from policies.loader import LIBRARY, load_policy_file, policy_files
    from policies.testing import run_cases

    started = time.perf_counter()
    errors: list[str] = []
    files = []
    for f in policy_files([path or LIBRARY]):
        try:
            files.append(load_policy_file(f))
        except PolicyError as exc:
            errors.append(str(exc))
    results = run_cases(files)
    for r in results:
        mark = "PASSED" if r.passed else "FAILED"
        typer.echo(f"{r.policy_id}::{r.case} {mark}")
    failed = [r for r in results if not r.passed]
    if failed or errors:
        typer.echo("=" * 30 + " failures " + "=" * 30)
        for r in failed:
            typer.echo(f"FAILED {r.where}::{r.policy_id}::{r.case} - {r.message}")
        for e in errors:
            typer.echo(f"ERROR {e}")
    passed = len(results) - len(failed)
    parts = [f"{len(failed)} failed"] if failed else []
    parts.append(f"{passed} passed")
    if errors:
        parts.append(f"{len(errors)} error{'s' if len(errors) > 1 else ''}")
    typer.echo(f"{'=' * 20} {', '.join(parts)} in {time.perf_counter() - started:.2f}s {'=' * 20}")
    if failed or errors or not results:
        raise typer.Exit(1)


@policy_app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="a policy file or directory")],
    timeout: Annotated[
        float, typer.Option(help="seconds one file may take to import before it is broken")
    ] = 20.0,
) -> None:
    """Load policy files, each in its own process with a time limit, and report each broken one
    with file and line; exit 1 if any is broken (or a policy id repeats)."""
    from policies.isolated import check_files
    from policies.loader import policy_files

    files = policy_files([path])
    if not files:
        raise PolicyError(f"{path}: no policy files (*.py, not *_cases.py) found")
    broken = 0
    for f, result in zip(files, check_files(files, timeout_s=timeout), strict=True):
        if not result.ok:
            broken += 1
            typer.echo(f"BROKEN {result.error}")
            continue
        cases = f"{result.cases} cases" if result.cases else "NO CASES"
        typer.echo(
            f"ok     {f}: {result.policy_id} {result.version} ({cases}, sha256 "
            f"{result.source_hash[:12]})"
        )
    if broken:
        raise typer.Exit(1)


def _stock(pairs: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pair in pairs:
        sku, _, units = pair.partition("=")
        try:
            out[sku.strip()] = float(units)
        except ValueError:
            raise typer.BadParameter(
                f"--stock {pair!r}: write SKU=UNITS, e.g. BRG-KIT-6205=2"
            ) from None
    return out


@policy_app.command("backtest")
def backtest(
    history: Annotated[Path, typer.Option("--history", help="readings CSV (first column: time)")],
    asset: Annotated[Path, typer.Option("--asset", help="the machine's asset TOML")],
    policy_id: Annotated[str | None, typer.Option("--policy", help="only this policy id")] = None,
    dirs: Annotated[list[Path] | None, typer.Option("--dir", help=DIRS_HELP)] = None,
    every_h: Annotated[
        float, typer.Option(help="generated planned windows: one every N hours")
    ] = 24.0,
    window_h: Annotated[float, typer.Option(help="length of each planned window in hours")] = 6.0,
    first_window_hour: Annotated[float, typer.Option(help="hour of day the windows start")] = 22.0,
    stock: Annotated[
        list[str] | None,
        typer.Option("--stock", help="SKU=UNITS on hand during the replay (repeatable)"),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="append the shadow decisions to the decision log")
    ] = False,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="default $AUTOOPS_STATE_DIR or .autoops")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Replay history through the agents and policies in shadow mode: what would have fired."""
    from policies.backtest import WindowPlan, machine_context, machine_reports, run_backtest, select
    from policies.loader import load_all
    policies = select([pf.loaded for pf in load_all(dirs or ())], policy_id)
    plan = WindowPlan(every_h=every_h, window_h=window_h, first_window_hour=first_window_hour)
    asset_id, reports = machine_reports(history, asset)
    ctx = machine_context(asset, plan, stock=_stock(stock or []))
    result, decisions = run_backtest(reports, policies, context=ctx)
    result = result.model_copy(update={"history": str(history), "asset_id": asset_id})
    if record:
        from orchestrator.state import decision_log

        with decision_log(state_dir) as store:
            store.append(decisions)
    if as_json:
        print(result.model_dump_json())
        return
    typer.echo(
        f"{asset_id}: {result.reports} reports {result.first_time} .. {result.last_time} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(result.statuses.items()))})"
    )
    for pid, rows in result.policies.items():
        typer.echo(f"== {pid}: {len(rows)} decision(s)")
        for r in rows:
            typer.echo(
                f"   {r.time.isoformat()} {r.outcome:<10} {r.action or '-':<20} {r.decision_id}"
            )
            typer.echo(f"      {r.explanation}")
