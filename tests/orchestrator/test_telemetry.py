from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.telemetry import JsonLinesExporter, RedactingExporter
from orchestrator.tracefile import load_spans, render_tree, traces_for


def _provider(*exporters) -> TracerProvider:
    provider = TracerProvider()
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_redacting_exporter_removes_secret_values_and_secret_keys() -> None:
    memory = InMemorySpanExporter()
    tracer = _provider(RedactingExporter(memory, secrets=["s3cr3t-hmac-key"])).get_tracer("t")
    with tracer.start_as_current_span(
        "call", attributes={"url": "http://x/?k=s3cr3t-hmac-key"}
    ) as span:
        span.set_attribute("api_key", "anything")
        span.add_event("sent", {"body": "sig s3cr3t-hmac-key"})
    (exported,) = memory.get_finished_spans()
    assert "s3cr3t-hmac-key" not in str(exported.attributes) + str(exported.events[0].attributes)
    assert exported.attributes["api_key"] == "[redacted]"
    assert exported.attributes["url"] == "http://x/?k=[redacted]"


def test_trace_file_tree_follows_links(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    tracer = _provider(JsonLinesExporter(path)).get_tracer("t")
    with tracer.start_as_current_span(
        "policy.evaluate", attributes={"decision.id": "d-1"}
    ) as parent:
        with tracer.start_as_current_span("workflow.start", attributes={"workflow.id": "po:s:k:1"}):
            pass
    link = trace.Link(parent.get_span_context())
    with tracer.start_as_current_span(
        "approval", links=[link], attributes={"approval.approver": "ana"}
    ):
        pass
    path.write_text(path.read_text() + '{"torn line')  # a killed writer must not hide the rest
    spans = load_spans(path)
    ids = traces_for(spans, "d-1")
    assert len(ids) == 2  # the decision's trace and the approval's linked trace
    lines = render_tree(spans, ids[0])
    assert lines[1].lstrip().startswith("policy.evaluate")
    assert lines[2].startswith("    workflow.start") and "workflow.id=po:s:k:1" in lines[2]
    assert any("approval.approver=ana" in line for line in render_tree(spans, ids[1]))


def test_secrets_from_the_environment_are_the_values_of_secret_named_variables() -> None:
    from orchestrator.telemetry import secrets_from_env

    env = {
        "AUTOOPS_CALLBACK_SECRET": "hmac-value-123",
        "TEMPORAL_API_KEY": "key-value-456",
        "DB_PASSWORD": "pw-value-789",
        "PATH": "/usr/bin",
        "AUTOOPS_STATE_DIR": "/var/lib/autoops",
        "EMPTY_TOKEN": "",
    }
    assert set(secrets_from_env(env)) == {"hmac-value-123", "key-value-456", "pw-value-789"}


def test_collapsed_tree_counts_repeated_leaf_siblings(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    tracer = _provider(JsonLinesExporter(path)).get_tracer("t")
    with tracer.start_as_current_span("RunWorkflow:Maintenance") as root:
        for _ in range(4):
            with tracer.start_as_current_span("HandleSignal:asset_health"):
                pass
        with tracer.start_as_current_span("RunActivity:create_work_order"):
            pass
    spans = load_spans(path)
    trace_id = f"{root.get_span_context().trace_id:032x}"
    full = render_tree(spans, trace_id)
    short = render_tree(spans, trace_id, collapse=True)
    assert len(full) == 7 and len(short) == 4
    assert "HandleSignal:asset_health" in short[2] and "(x4" in short[2]
    assert short[3].strip().startswith("RunActivity:create_work_order")
