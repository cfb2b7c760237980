"""Issue 13 item 10: the assessment span is made inside the actor that assessed, on real Ray.

The loop's span (``fleet.ingest``, in this process) sends its W3C trace context with the batch;
the actor's process, configured by the orchestrator's ``actor_process_setup`` (the same exporters:
the span file ``autoops trace`` reads), records ``agent.assessment`` as its child in the same
trace; the reports carry that span's context, and the policy evaluation continues from it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.base import Reading
from agents.registry import InventoryAgentSpec
from agents.runtime.tracing import context_of
from orchestrator.telemetry import AGENTS_SERVICE, TRACE_FILE, configure_actor_process

pytestmark = [pytest.mark.integration]

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _this_process_records() -> InMemorySpanExporter:
    """Record this process's spans in memory (the loop's side), on whatever SDK provider the
    session has, or a new one."""
    memory = InMemorySpanExporter()
    provider: Any = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def _spans_in(path: Path, name: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The spans called ``name`` in the span file, once the actor's exporter wrote them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            found = [s for s in spans if s["name"] == name]
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError(f"no {name} span in {path} after {timeout_s} s")


def test_the_assessment_span_is_recorded_by_the_actor_as_a_child_of_the_loops_span(
    ray_session: None, tmp_path: Path
) -> None:
    from functools import partial

    from agents.runtime.adapter import AgentFleet

    memory = _this_process_records()
    state = tmp_path / "state"
    # What the orchestrator hands the fleet (orchestrator.telemetry.actor_process_setup), pointed
    # at this test's span file.
    setup = partial(configure_actor_process, env={"AUTOOPS_TRACE_FILE": "on"}, state_dir=str(state))
    spec = InventoryAgentSpec(asset_id="sku-t", config={"sku": "SKU-T", "lead_time_h": 48.0})
    fleet = AgentFleet.start(
        [spec], namespace=f"test-{uuid.uuid4().hex[:8]}", checkpoint_dir=tmp_path / "checkpoints",
        process_setup=setup,
    )
    try:
        readings = [Reading("sku-t", T0 + timedelta(hours=h), {"stock": 900.0 - 10 * h}) for h in range(3)]
        reports = fleet.ingest(readings)
        assert len(reports) == 3
        actor_pid = fleet.stats()["asset:sku-t"].pid

        [ingest] = [s for s in memory.get_finished_spans() if s.name == "fleet.ingest"]
        assert ingest.attributes is not None and ingest.attributes["process.pid"] == os.getpid()
        [assessment] = _spans_in(state / TRACE_FILE, "agent.assessment")
        # Recorded by the actor's process, not the loop's, with the actor's own timing...
        assert assessment["attributes"]["process.pid"] == actor_pid != os.getpid()
        assert assessment["service"] == AGENTS_SERVICE
        assert assessment["attributes"]["asset.id"] == "sku-t" and assessment["attributes"]["readings"] == 3
        assert assessment["attributes"]["report.id"] == reports[-1].report_id
        assert ingest.start_time <= assessment["start_ns"] <= assessment["end_ns"] <= ingest.end_time
        # ...as the child of the loop's span, in the same trace.
        assert assessment["trace_id"] == f"{ingest.context.trace_id:032x}"
        assert assessment["parent_span_id"] == f"{ingest.context.span_id:016x}"

        # Each report carries the assessment's context: the policy evaluation continues the trace.
        assert {(r.trace_parent or "").rsplit("-", 1)[0] for r in reports} == {
            f"00-{assessment['trace_id']}-{assessment['span_id']}"
        }
        with trace.get_tracer("test").start_as_current_span("policy.evaluate", context=context_of(reports[-1])) as span:
            pass
        [evaluated] = [s for s in memory.get_finished_spans() if s.name == "policy.evaluate"]
        assert evaluated.parent is not None and f"{evaluated.parent.span_id:016x}" == assessment["span_id"]
        assert span.get_span_context().trace_id == ingest.context.trace_id
    finally:
        fleet.stop()
        memory.shutdown()
