"""``autoops decisions``: read the append-only decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.app import app

decisions_app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="decisions",
    no_args_is_help=True,
    help="The decision log: what the policies decided, and why.",
)
app.add_typer(decisions_app, name="decisions")

STATE_HELP = (
    "state directory; default $AUTOOPS_STATE_DIR or .autoops (with $AUTOOPS_STATE_URL set, "
    "the decision log is read from that database)"
)


@decisions_app.command("list")
def list_decisions(
    asset: Annotated[
        str | None, typer.Option("--asset", help="only decisions about this asset")
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="only decisions of this policy id")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="at most N decisions")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
) -> None:
    """List stored decisions in time order."""
    from orchestrator.state import decision_log

    with decision_log(state_dir) as store:
        found = store.list(asset_id=asset, policy_id=policy, limit=limit)
    if as_json:
        print(json.dumps([d.model_dump(mode="json") for d in found]))
        return
    if not found:
        typer.echo("no decisions")
        return
    for d in found:
        action = d.proposed.action.kind if d.proposed else "-"
        # The decision's own outcome (proposed, suppressed, ...) and how what it started ended.
        ended = f"  -> {d.results[-1].summary()}" if d.results else ("  -> running" if d.workflow_id else "")
        typer.echo(
            f"{d.decision_id}  {d.time.isoformat()}  {d.policy_id}@{d.policy_version}  "
            f"{d.asset_id or '-'}  {d.outcome.value}  {action}{ended}"
        )


@decisions_app.command("explain")
def explain_decision(
    decision_id: Annotated[str, typer.Argument(help="decision id (or a unique prefix)")],
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the stored decision as JSON")
    ] = False,
) -> None:
    """Why: inputs, thresholds crossed, parameter values, policy version."""
    from orchestrator.state import decision_log
    from policies.explain import explain

    with decision_log(state_dir) as store:
        decision = store.get(decision_id)
    if as_json:
        print(decision.model_dump_json())
        return
    typer.echo(explain(decision))
