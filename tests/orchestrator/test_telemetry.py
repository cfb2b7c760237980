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
