"""Tracing across the Ray call: the loop's context goes in with the batch, the assessment span is
made inside the actor that assessed, and each report carries that span's context out.

The caller (``adapter.AgentFleet.ingest``) opens a ``fleet.ingest`` span in its own process and
sends its W3C ``traceparent`` with each actor's batch (``carrier``). The actor extracts it and
runs the batch inside an ``agent.assessment`` span, a child of the loop's span in the same trace,
so its timing is the actor's own work and anything the agents trace nests under it. Each report
of a traced batch carries the assessment's ``traceparent`` (``HealthReport.trace_parent``): the
policy evaluation that reads the report continues the trace from there, down to the workflow and
its HTTP calls.

Uses the OpenTelemetry API only. Spans are recorded when the process has a tracer provider: the
orchestrator hands the fleet a set-up to run in each actor's process (``process_setup``); without
one every span here is a no-op and reports carry no context.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from agents.base import Reading
from agents.models import HealthReport, Status

tracer = trace.get_tracer("autoops.agents")

#: The span attribute naming the process a span was recorded in (OpenTelemetry's semantic name).
PROCESS_PID = "process.pid"


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``), to send with a call."""
    out: dict[str, str] = {}
    propagate.inject(out)
    return out


@contextmanager
def ingest_span(readings: Sequence[Reading], actors: int) -> Iterator[Span]:
    """The caller's span around one fleet call (in the loop's process)."""
    with tracer.start_as_current_span(
        "fleet.ingest",
        kind=SpanKind.CLIENT,
        attributes={"readings": len(readings), "actors": actors, PROCESS_PID: os.getpid()},
    ) as span:
        yield span


@contextmanager
def assessment_span(headers: Mapping[str, str] | None, actor: str, readings: Sequence[Reading]) -> Iterator[Span]:
    """The actor's span around assessing one batch, continuing the caller's trace."""
    context = propagate.extract(dict(headers or {}))
    assets = sorted({r.asset_id for r in readings})
    attributes: dict[str, str | int | list[str]] = {
        "actor.name": actor, "readings": len(readings), PROCESS_PID: os.getpid(),
    }
    if len(assets) == 1:
        attributes["asset.id"] = assets[0]
    else:
        attributes["asset.ids"] = assets[:50]
    with tracer.start_as_current_span(
        "agent.assessment", context=context, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


def stamp(span: Span, reports: list[HealthReport]) -> list[HealthReport]:
    """Describe what the batch found on ``span`` and mark each report with its context."""
    if not span.is_recording() or not reports:
        return reports
    worst = Status.GREEN
    for r in reports:
        worst = Status.worst(worst, r.status)
    span.set_attribute("asset.status", worst.value)
    span.set_attribute("reports", len(reports))
    hosts = {r.asset_id for r in reports}
    if len(hosts) == 1 or len(reports) == 1:
        # One asset: the report a decision reads, as the decision's trace shows it.
        last = reports[-1]
        span.set_attribute("report.id", last.report_id)
        span.set_attribute("report.time", last.time.isoformat())
        span.set_attribute("asset.health_score", last.health_score)
        for indicator in last.indicators[:6]:
            if indicator.value is not None:
                span.set_attribute(f"indicator.{indicator.name}", indicator.value)
    headers = carrier()  # the assessment span is current here
    parent = headers.get("traceparent")
    if not parent:
        return reports
    return [r.model_copy(update={"trace_parent": parent}) for r in reports]


def context_of(report: HealthReport | None) -> Context | None:
    """The trace context of the assessment that made ``report`` (None: it was not traced)."""
    if report is None or not report.trace_parent:
        return None
    return propagate.extract({"traceparent": report.trace_parent})
