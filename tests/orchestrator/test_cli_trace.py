"""`autoops trace`: the causal tree behind a decision, read from the span file a run wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from orchestrator.telemetry import JsonLinesExporter

AUTOOPS = Path(sys.executable).parent / "autoops"
WF = "po:site:BK-6205:1"


def autoops(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUTOOPS), *args, "--state-dir", str(state)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A decision's trace as the orchestrator writes it, a vote linked to it, and health signals."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(tmp_path / "traces.jsonl")))
    tracer = provider.get_tracer("test")
    signals = []
    for _ in range(3):  # health signals: their own traces, linked from the workflow's handlers
        with tracer.start_as_current_span("SignalWorkflow:asset_health", context=trace.set_span_in_context(trace.INVALID_SPAN)) as s:
            signals.append(s.get_span_context())
    with tracer.start_as_current_span("agent.assessment", attributes={"asset.id": "mill-1", "asset.status": "amber"}):
        with tracer.start_as_current_span(
            "policy.evaluate", attributes={"policy.id": "bearing-wear", "decision.id": "d-0123456789", "workflow.id": WF}
        ):
            with tracer.start_as_current_span("StartWorkflow:PartOrder", attributes={"temporalWorkflowID": WF}) as start:
                for ctx in signals:
                    with tracer.start_as_current_span("HandleSignal:asset_health", links=[trace.Link(ctx)]):
                        pass
                with tracer.start_as_current_span("RunActivity:place_order", attributes={"temporalWorkflowID": WF}):
                    with tracer.start_as_current_span(
                        "POST", kind=trace.SpanKind.CLIENT, attributes={"peer.service": "supplier", "http.url": "http://x/orders"}
                    ):
                        pass
    with tracer.start_as_current_span(
        "approval.vote",
        context=trace.set_span_in_context(trace.INVALID_SPAN),
        links=[trace.Link(start.get_span_context())],
        attributes={"workflow.id": WF, "approval.approver": "ana", "approval.outcome": "approve"},
    ):
        pass
    return tmp_path


def test_trace_prints_the_decision_tree_then_the_linked_vote_and_counts_the_rest(state: Path) -> None:
    result = autoops("trace", "d-0123456789", state=state)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith(("trace", "linked", "  3 x"))]
    assert names == [
        "agent.assessment", "policy.evaluate", "StartWorkflow:PartOrder", "HandleSignal:asset_health",
        "RunActivity:place_order", "POST", "approval.vote",
    ]
    assert "(x3, linked traces not listed)" in result.stdout  # three signals, one line
    assert "peer.service=supplier" in result.stdout and "approval.approver=ana" in result.stdout
    assert "3 x SignalWorkflow:asset_health" in result.stdout


def test_trace_by_workflow_id_and_all_traces_as_json(state: Path) -> None:
    result = autoops("trace", WF, "--all", "--json", state=state)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["traces"]) == 5 and out["linked"] == []  # decision, vote, three signals
    assert {"agent.assessment", "approval.vote", "SignalWorkflow:asset_health"} <= {s["name"] for s in out["spans"]}


def test_unknown_id_says_what_to_give(state: Path) -> None:
    result = autoops("trace", "d-nothing", state=state)
    assert result.returncode == 2
    assert "no span" in result.stderr and "autoops decisions list" in result.stderr


def test_no_trace_file_says_how_to_get_one(tmp_path: Path) -> None:
    result = autoops("trace", "d-1", state=tmp_path)
    assert result.returncode == 2 and "autoops demo" in result.stderr
