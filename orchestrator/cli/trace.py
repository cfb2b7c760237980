"""``autoops trace ID``: the causal tree behind a decision or a workflow, from the local span file.

    autoops trace d-a9c4b7de8c30ae56535b          # a decision (or a unique prefix of its id)
    autoops trace maint:precision-components:mill-1
    autoops trace 1efd07710a554b1585c9dcba82e5014b  # a trace id

The trace that holds the decision (assessment -> policy evaluation -> workflow start -> the
activities -> HTTP calls -> the partner's server spans) is printed in full, then the traces linked
to it: approval votes in full, the rest (health signals, callbacks) counted by kind.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from agents.errors import InputError
from orchestrator.cli.app import app

STATE_HELP = "state directory; default $AUTOOPS_STATE_DIR or .autoops"
#: Root span names of traces that are part of the causal story, printed in full when linked.
_STORY_ROOTS = ("agent.assessment", "approval.vote")


def _decision_key(key: str, state: Path) -> tuple[str, str | None]:
    """A decision id prefix as the full id, with the trace id the decision log recorded."""
    import os

    from orchestrator.state import decision_log

    if not os.environ.get("AUTOOPS_STATE_URL") and not (state / "decisions.sqlite").exists():
        return key, None
    try:
        with decision_log(state) as store:
            decision = store.get(key)
    except InputError:
        return key, None
    return decision.decision_id, decision.trace_id


def select(
    spans: list[dict[str, Any]], key: str, known_trace: str | None = None
) -> tuple[list[str], list[str]]:
    """(traces to print in full, other linked traces) for a decision / workflow / trace id.

    In full: the traces that name ``key`` and start at an assessment or a vote, and the votes
    linked to them; everything else linked (health signals, callbacks, later decisions that a
    workflow's end released) is only counted.
    """
    from orchestrator.tracefile import KEY_ATTRIBUTES, roots, traces_for

    all_ids = {s["trace_id"] for s in spans}
    found = [key] if key in all_ids else traces_for(spans, key)
    if known_trace and known_trace in all_ids and known_trace not in found:
        found.insert(0, known_trace)
    direct = {key, known_trace} | {
        s["trace_id"]
        for s in spans
        if any(s.get("attributes", {}).get(a) == key for a in KEY_ATTRIBUTES)
    }

    def root_name(trace_id: str) -> str:
        first = roots(spans, trace_id)
        return first[0]["name"] if first else ""

    def start(trace_id: str) -> int:
        first = roots(spans, trace_id)
        return int(first[0]["start_ns"] or 0) if first else 0

    story = [
        t
        for t in found
        if root_name(t) == "approval.vote" or (t in direct and root_name(t) in _STORY_ROOTS)
    ]
    if not story and found:
        story = [min((t for t in found if t in direct), key=start, default=found[0])]
    story.sort(key=lambda t: (root_name(t) != "agent.assessment", start(t)))
    rest = sorted((t for t in found if t not in story), key=start)
    return story, rest


@app.command("trace")
def trace_command(
    key: Annotated[str, typer.Argument(help="decision id (or unique prefix), workflow id or trace id")],
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help=STATE_HELP)] = None,
    all_traces: Annotated[
        bool, typer.Option("--all", help="print every linked trace in full, nothing collapsed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the traces' spans as JSON")] = False,
) -> None:
    """Print the causal tree behind a decision or workflow, with timings and key attributes."""
    from orchestrator.telemetry import TRACE_FILE
    from orchestrator.tracefile import load_spans, render_tree, roots
    from policies.store import state_dir as default_state_dir

    state = default_state_dir(state_dir)
    spans = load_spans(state / TRACE_FILE)
    known_trace = None
    if key.startswith("d-"):
        key, known_trace = _decision_key(key, state)
    story, rest = select(spans, key, known_trace)
    if not story:
        raise InputError(
            f"no span in {state / TRACE_FILE} names {key!r}; give a decision id "
            "(`autoops decisions list`), a workflow id or a trace id, or wait a second for the "
            "exporter to flush"
        )
    if all_traces:
        story, rest = story + rest, []
    if as_json:
        chosen = set(story) | set(rest)
        print(
            json.dumps(
                {
                    "key": key,
                    "traces": story,
                    "linked": rest,
                    "spans": [s for s in spans if s["trace_id"] in chosen],
                },
                default=str,
            )
        )
        return
    for trace_id in story:
        for line in render_tree(spans, trace_id, collapse=not all_traces):
            typer.echo(line)
    if rest:
        kinds = Counter(roots(spans, t)[0]["name"] for t in rest if roots(spans, t))
        typer.echo(f"linked traces not shown ({len(rest)}; --all prints them):")
        for name, count in kinds.most_common():
            example = next(t for t in rest if roots(spans, t) and roots(spans, t)[0]["name"] == name)
            typer.echo(f"  {count} x {name}  e.g. autoops trace {example}")
