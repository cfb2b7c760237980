"""``autoops alarms``: list alarms and their KPIs; acknowledge, shelve, unshelve them as yourself.

``list`` and ``kpis`` read the alarm store in the state directory (``--state-dir``, default
``$AUTOOPS_STATE_DIR`` or ``.autoops``), also while the orchestrator runs. ``ack``, ``shelve``,
``unshelve``, ``note`` and ``assign`` go through the web API the UI uses (``--url`` /
``$AUTOOPS_URL``), signed with a personal API token created in the web UI (``$AUTOOPS_API_TOKEN``):
the same rights by role apply (an operator shelves for one shift at most, a viewer does nothing).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from agents.errors import AutoopsError, InputError
from orchestrator.alarms.service import matching
from orchestrator.cli.app import app
from orchestrator.cli.approvals import Config, Url, _token, _web_url, post_as

alarms_app = typer.Typer(
    rich_markup_mode=None,
    name="alarms",
    no_args_is_help=True,
    help="Alarms (ISA-18.2): list, KPIs, acknowledge, shelve, unshelve.",
)
app.add_typer(alarms_app, name="alarms")

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="state directory; default $AUTOOPS_STATE_DIR or .autoops"),
]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
AsUser = Annotated[
    str | None, typer.Option("--as", help="your user name; checked against the API token's person")
]
Comment = Annotated[str, typer.Option("--comment", help="kept in the alarm's audit trail")]


def _store(state_dir: Path | None) -> Any:
    from orchestrator.alarms import FILENAME, AlarmStore

    if os.environ.get("AUTOOPS_STATE_URL"):  # the shared state database (orchestrator.state)
        from orchestrator.state import StateDB

        return StateDB(os.environ["AUTOOPS_STATE_URL"]).alarm_store()
    chosen = state_dir or Path(os.environ.get("AUTOOPS_STATE_DIR") or ".autoops")
    if not chosen.is_dir():
        raise InputError(
            f"no state directory {str(chosen)!r}: pass --state-dir or set AUTOOPS_STATE_DIR to the "
            "orchestrator's state directory"
        )
    path = chosen / FILENAME
    if not path.exists():
        return None
    return AlarmStore(path, read_only=True)


def _fail(exc: AutoopsError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    raise typer.Exit(2)


@alarms_app.command("list")
def list_alarms(
    line: Annotated[str, typer.Option("--line", help="only alarms of this line")] = "",
    status: Annotated[str, typer.Option(
        "--status", help="active_unack | active_ack | cleared_unack | unacked | shelved | suppressed")] = "",
    all_: Annotated[bool, typer.Option("--all", help="cleared (closed) alarms too")] = False,
    state_dir: StateDir = None,
    as_json: AsJson = False,
) -> None:
    """Open alarms (most urgent first), each with its audit trail in --json."""
    try:
        store = _store(state_dir)
    except AutoopsError as exc:
        _fail(exc)
    alarms = store.list(include_cleared=all_ or status == "cleared", limit=10_000) if store else []
    now = datetime.now(UTC)
    # A timed shelve that ran out is over, even before the orchestrator writes it down.
    alarms = [
        a.model_copy(update={"shelved": None})
        if a.shelved is not None and a.shelved.until is not None and a.shelved.until <= now
        else a
        for a in alarms
    ]
    alarms = matching(alarms, line=line, status=status)
    alarms.sort(key=lambda a: (not a.annunciated, not a.active, a.priority, a.id))
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in alarms]))
        return
    if not alarms:
        typer.echo("no alarms")
    for a in alarms:
        flags = " shelved" if a.shelved else ""
        flags += " suppressed" if a.suppressed else ""
        typer.echo(f"{a.id}  {a.priority}  {a.state.value}{flags}  {a.asset_id}  {a.message}")


@alarms_app.command("kpis")
def kpis(state_dir: StateDir = None, as_json: AsJson = False) -> None:
    """Alarm rate per 10 minutes, floods, chattering and stale alarms, top 10 (ISA-18.2)."""
    from orchestrator.alarms.kpis import compute

    try:
        store = _store(state_dir)
    except AutoopsError as exc:
        _fail(exc)
    if store is None:
        figures = compute([], [], datetime.now(UTC))
    else:
        figures = compute(store.activations(), store.list(include_cleared=False, limit=100_000),
                          store.plant_now() or datetime.now(UTC))
    if as_json:
        print(json.dumps(figures))
        return
    typer.echo(f"alarms per 10 min:  {figures['per_10_min']}  (busiest 10 min: {figures['peak_10_min']})")
    typer.echo(f"floods (>10/10 min): {figures['floods']}")
    typer.echo(f"chattering alarms:  {figures['chattering']}  {' '.join(figures['chattering_alarms'])}")
    typer.echo(f"stale (>24 h):      {figures['stale']}  {' '.join(figures['stale_alarms'])}")
    for row in figures["top"]:
        typer.echo(f"  {row['count']:5d}  {row['key']}")


def _act(base: str, token: str, alarm_id: str, verb: str, body: dict[str, str], user: str | None
         ) -> dict[str, Any]:
    """One write through the web API, as the token's person; its refusals printed as they are."""
    return post_as(base, token, f"/api/alarms/{quote(alarm_id, safe='')}/{verb}", body, item=alarm_id, user=user)


def _act_and_print(alarm_id: str, verb: str, body: dict[str, str], user: str | None,
                   url: str | None, config: Path | None, as_json: bool) -> None:
    try:
        result = _act(_web_url(url, config), _token(), alarm_id, verb, body, user)
    except AutoopsError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(result))
    else:
        alarm = result.get("alarm") or {}
        typer.echo(f"{result['message']} by {result['user']} (now {alarm.get('state', '?')})")


AlarmId = Annotated[str, typer.Argument(help="alarm id, e.g. ALM-12 (autoops alarms list)")]


@alarms_app.command("ack")
def ack(alarm_id: AlarmId, user: AsUser = None, comment: Comment = "", url: Url = None,
        config: Config = None, as_json: AsJson = False) -> None:
    """Acknowledge an alarm ("I saw it, I am on it")."""
    _act_and_print(alarm_id, "ack", {"comment": comment}, user, url, config, as_json)


@alarms_app.command("shelve")
def shelve(
    alarm_id: AlarmId,
    user: AsUser = None,
    for_: Annotated[str, typer.Option("--for", help="how long, e.g. 30m, 2h, 1d; omit for "
                                      "one-shot (until the alarm clears)")] = "",
    reason: Annotated[str, typer.Option("--reason", help="why (required; in the audit trail)")] = "",
    url: Url = None, config: Config = None, as_json: AsJson = False,
) -> None:
    """Shelve an alarm for a time (or one-shot) with a reason; it returns by itself."""
    if not reason.strip():
        _fail(InputError("shelving needs a reason: add --reason '...'"))
    _act_and_print(alarm_id, "shelve", {"reason": reason, "duration": for_}, user, url, config,
                   as_json)


@alarms_app.command("unshelve")
def unshelve(alarm_id: AlarmId, user: AsUser = None, comment: Comment = "", url: Url = None,
             config: Config = None, as_json: AsJson = False) -> None:
    """Put a shelved alarm back in front of the operators now."""
    _act_and_print(alarm_id, "unshelve", {"comment": comment}, user, url, config, as_json)


@alarms_app.command("note")
def note(alarm_id: AlarmId, comment: Annotated[str, typer.Option("--comment", help="the note")],
         user: AsUser = None, url: Url = None, config: Config = None, as_json: AsJson = False) -> None:
    """Add a note to an alarm's audit trail."""
    _act_and_print(alarm_id, "note", {"comment": comment}, user, url, config, as_json)


@alarms_app.command("assign")
def assign(alarm_id: AlarmId,
           to: Annotated[str, typer.Option("--to", help="a user name, or role:<role>")],
           user: AsUser = None, comment: Comment = "", url: Url = None, config: Config = None,
           as_json: AsJson = False) -> None:
    """Give an alarm to a person or a role (maintenance lead, plant manager)."""
    _act_and_print(alarm_id, "assign", {"assignee": to, "comment": comment}, user, url, config,
                   as_json)
