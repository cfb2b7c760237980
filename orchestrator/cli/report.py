"""``autoops report shift``: the end-of-shift report from the state directory's history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from agents.errors import ConfigError
from orchestrator.cli.app import app
from orchestrator.report.archive import PlantHistory

report_app = typer.Typer(
    rich_markup_mode=None,
    name="report",
    no_args_is_help=True,
    help="Reports from the history store: the end-of-shift report.",
)
app.add_typer(report_app, name="report")

STATE_HELP = "state directory; default $AUTOOPS_STATE_DIR or .autoops"


def shift_report(learned: PlantHistory, day: date | None, shift: str | None) -> dict[str, Any]:
    from orchestrator.kpi.calendar import find_shift, last_completed_shift
    from orchestrator.report.shift import build_shift_report

    if shift is not None or day is not None:
        if shift is None or day is None:
            names = [s.name for s in learned.schedule.shifts]
            raise ConfigError(f"give both --date and --shift (shifts: {names})")
        try:
            window = find_shift(learned.schedule, day, shift)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
    else:
        found = last_completed_shift(learned.schedule, learned.now())
        if found is None:
            raise ConfigError("no shift has completed in the history yet")
        window = found
    return build_shift_report(
        learned.store, learned, window, watchers=learned.watchers, as_of=learned.now()
    )


@report_app.command("shift")
def report_shift(
    day: Annotated[
        str | None, typer.Option("--date", help="the shift's day (YYYY-MM-DD, plant time zone)")
    ] = None,
    shift: Annotated[str | None, typer.Option("--shift", help="shift name from the plant's schedule")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as one JSON object")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="write an HTML page with plots here")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_HELP)] = None,
) -> None:
    """The end-of-shift report (default: the last completed shift)."""
    try:
        parsed = date.fromisoformat(day) if day else None
    except ValueError:
        raise ConfigError(f"--date {day!r}: expected YYYY-MM-DD") from None
    learned = PlantHistory(state_dir)
    try:
        report = shift_report(learned, parsed, shift)
        if html is not None:
            from orchestrator.report.html import render_html

            html.write_text(render_html(report, learned.store), encoding="utf-8")
    finally:
        learned.store.close()
    if as_json:
        print(json.dumps(report))
        return
    _print_text(report, html)


def _print_text(report: dict[str, Any], html: Path | None) -> None:
    s = report["shift"]
    typer.echo(f"{report['site']} — {s['name']} of {s['day']} ({s['start']} to {s['end']})")
    for asset, m in report["machines"].items():
        typer.echo(f"  {asset:10s} OEE {m['oee']:.1%}  A {m['availability']:.1%}  "
                   f"P {m['performance']:.1%}  Q {m['quality']:.1%}  good {m['good']}/{m['produced']}")
    typer.echo("  downtime (h): " + ", ".join(f"{k} {v:.2f}" for k, v in report["downtime"].items()))
    e = report["energy_per_unit"]
    typer.echo(f"  energy: {e['kwh']} kWh, {e['plant']} {e['unit']}")
    for f in report["yield"]["significant"]:
        typer.echo(f"  finding: {f['finding']}")
    for name, p in report["policies"].items():
        typer.echo(f"  policy {name}@{p['version']}: {p['actions']} actions, {p['confirmed']} confirmed, "
                   f"{p['no_fault_found']} no fault found, {p['missed']} missed, precision {_pct(p['precision'])}, "
                   f"median lead {_hours(p['median_lead_h'])}")
    if html is not None:
        typer.echo(f"  page: {html}")


def _register_policy_report() -> None:
    from orchestrator.cli.policy import policy_app

    @policy_app.command("report")
    def policy_report_command(
        policy_id: Annotated[str | None, typer.Option("--policy", help="only this policy id")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_HELP)] = None,
    ) -> None:
        """Outcomes per policy version: actions, confirmed, no fault found, missed, precision."""
        from orchestrator.report.shift import policy_report

        learned = PlantHistory(state_dir)
        try:
            # Everything the history holds: no cutoff (a simulated plant's clock runs ahead).
            everything = datetime.max.replace(tzinfo=UTC)
            rows = policy_report(learned.store, everything, policy_id, learned.watchers)
        finally:
            learned.store.close()
        if as_json:
            print(json.dumps(rows))
            return
        if not rows:
            typer.echo("no policy has acted yet")
        for p in rows:
            precision = "-" if p["precision"] is None else f"{p['precision']:.0%}"
            typer.echo(f"{p['policy_id']}@{p['version']}: {p['actions']} actions, "
                       f"{p['confirmed']} confirmed, {p['no_fault_found']} no fault found, "
                       f"{p['missed']} missed, precision {precision}, "
                       f"median lead {_hours(p['median_lead_h'])}")


_register_policy_report()


def _pct(value: float | None) -> str:
    return "- (nothing confirmed or refuted yet)" if value is None else f"{value:.0%}"


def _hours(value: float | None) -> str:
    return "- (no confirmed fault yet)" if value is None else f"{value:g} h"
