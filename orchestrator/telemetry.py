"""OpenTelemetry set-up, done once at process entry. Library code uses only the OpenTelemetry API.

Configuration comes from the standard ``OTEL_*`` variables, which the SDK reads itself:
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` / ``_ARG``,
``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``
(``http/protobuf`` default, or ``grpc``), ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``.

Spans always go to ``<state dir>/traces.jsonl`` (read by ``autoops trace``) unless
``AUTOOPS_TRACE_FILE=off``; they also go to OTLP when an endpoint is set. Every exporter is wrapped
by ``RedactingExporter``, which removes configured secret values (plus the values of environment
variables whose names say "secret", "token", "password", "api key") and secret-looking
attributes, so a secret that slipped into a span never leaves the process.

The reference partner servers run in this process (threads) in the demo. One TracerProvider has
one ``service.name``, so each of them gets its own provider (``component_tracer_provider``):
resource ``service.name=autoops-reference-<name>`` and ``autoops.component=reference-<name>``,
feeding the same span processors, so a backend shows them as separate services of one trace.
Conventions: ``docs/telemetry.md``.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

TRACE_FILE = "traces.jsonl"
REDACTED = "[redacted]"
#: Span / resource attribute naming the part of autoops (or the reference partner) that made a span.
COMPONENT = "autoops.component"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|signature)", re.I
)


class RedactingExporter(SpanExporter):
    """Wraps an exporter; drops secret values and secret-named attributes before export."""

    def __init__(self, inner: SpanExporter, secrets: Iterable[str] = ()) -> None:
        self._inner = inner
        # Very short strings would redact half the world; secrets are long in practice.
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)

    def _clean_value(self, value: object) -> object:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean_value(v) for v in value)
        return value

    def _clean_attributes(self, attributes: object) -> dict[str, object]:
        return {
            key: (REDACTED if _SECRET_KEY.search(key) else self._clean_value(value))
            for key, value in dict(attributes or {}).items()  # type: ignore[call-overload]
        }

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        from opentelemetry.sdk.trace import Event

        events = [
            Event(e.name, self._clean_attributes(e.attributes), e.timestamp)  # type: ignore[arg-type]
            for e in span.events
        ]
        links = [
            trace.Link(link.context, self._clean_attributes(link.attributes))  # type: ignore[arg-type]
            for link in span.links
        ]
        return ReadableSpan(
            name=str(self._clean_value(span.name)),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._clean_attributes(span.attributes),  # type: ignore[arg-type]
            events=events,
            links=links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([self._clean(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def span_to_dict(span: ReadableSpan) -> dict[str, object]:
    """One span as a flat JSON-able dict (the line format of ``traces.jsonl``)."""
    ctx = span.context
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "service": (span.resource.attributes.get(SERVICE_NAME) if span.resource else None),
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                "attributes": dict(link.attributes or {}),
            }
            for link in span.links
        ],
    }


class JsonLinesExporter(SpanExporter):
    """Appends spans as JSON lines to a file; safe for several threads of one process and for
    several processes (the loop and its Ray actors share the file): each export is one locked
    append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_to_dict(s), default=str) + "\n" for s in spans)
        try:
            with self._lock, self.path.open("ab") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # another process's lines never interleave with ours
                try:
                    fh.write(lines.encode("utf-8"))
                    fh.flush()
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            log.warning("could not write spans to %s: %s", self.path, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _otlp_protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def _otlp_endpoint_set(signal: str) -> bool:
    return bool(
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _otlp_span_exporter() -> SpanExporter:
    if _otlp_protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http()


def _otlp_metric_reader() -> PeriodicExportingMetricReader:
    if _otlp_protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetrics,
        )

        return PeriodicExportingMetricReader(GrpcMetrics())
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetrics,
    )

    return PeriodicExportingMetricReader(HttpMetrics())


@dataclass
class Telemetry:
    """What ``configure_telemetry`` set up; ``shutdown`` flushes and closes the exporters."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    trace_file: Path | None
    exporters: list[str] = field(default_factory=list)
    processors: list[SpanProcessor] = field(default_factory=list)
    components: dict[str, TracerProvider] = field(default_factory=dict)

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


_configured: Telemetry | None = None
_lock = threading.Lock()


def configure_telemetry(
    *,
    service_name: str = "autoops",
    state_dir: Path | str = ".autoops",
    secrets: Iterable[str] = (),
    extra_exporters: Sequence[SpanExporter] = (),
) -> Telemetry:
    """Set the global tracer and meter providers once per process; later calls return the first."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        attributes = {}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes[SERVICE_NAME] = service_name
        resource = Resource.create(attributes)
        tracer_provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
        secret_values = tuple(secrets) + secrets_from_env()
        names: list[str] = []
        processors: list[SpanProcessor] = []
        trace_file: Path | None = None
        if os.environ.get("AUTOOPS_TRACE_FILE", "").lower() != "off":
            trace_file = Path(state_dir) / TRACE_FILE
            exporter: SpanExporter = JsonLinesExporter(trace_file)
            processors.append(
                BatchSpanProcessor(
                    RedactingExporter(exporter, secret_values), schedule_delay_millis=500
                )
            )
            names.append(f"file:{trace_file}")
        if _otlp_endpoint_set("TRACES"):
            processors.append(
                BatchSpanProcessor(RedactingExporter(_otlp_span_exporter(), secret_values))
            )
            names.append(f"otlp:{_otlp_protocol('TRACES')}")
        for extra in extra_exporters:
            processors.append(
                BatchSpanProcessor(
                    RedactingExporter(extra, secret_values), schedule_delay_millis=200
                )
            )
            names.append(type(extra).__name__)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        readers = [_otlp_metric_reader()] if _otlp_endpoint_set("METRICS") else []
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        _configured = Telemetry(tracer_provider, meter_provider, trace_file, names, processors)
        return _configured


#: The service name of the agents' processes (Ray actors) when ``OTEL_SERVICE_NAME`` is not set.
AGENTS_SERVICE = "autoops-agents"


def actor_process_setup(state_dir: Path | str) -> functools.partial[None] | None:
    """What each Ray actor's process runs first (``AgentFleet.start(process_setup=...)``): this
    process's telemetry configuration, so the agents' spans (``agent.assessment``) go to the same
    exporters: the ``OTEL_*`` variables and ``AUTOOPS_TRACE_FILE`` of this process, the same
    span file. None when this process configured no telemetry.

    ``OTEL_EXPORTER_OTLP_*HEADERS`` (they may hold an API key) are not sent with the actors'
    arguments: a local Ray's workers inherit them from this process's environment; on a cluster,
    set them in the workers' environment (the Ray cluster's runtime environment)."""
    if _configured is None:
        return None
    env = {
        name: value
        for name, value in os.environ.items()
        if (name.startswith("OTEL_") and "HEADERS" not in name) or name == "AUTOOPS_TRACE_FILE"
    }
    return functools.partial(configure_actor_process, env=env, state_dir=str(Path(state_dir).resolve()))


def configure_actor_process(*, env: Mapping[str, str], state_dir: str) -> None:
    """Configure telemetry in a Ray actor's process as its orchestrator did (once per process)."""
    for name, value in env.items():
        os.environ.setdefault(name, value)
    configure_telemetry(service_name=AGENTS_SERVICE, state_dir=state_dir)


def secrets_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of environment variables whose names say they hold a secret (callback HMAC secret,
    Temporal API key, tokens, passwords): redacted wherever they would appear in a span."""
    env = os.environ if environ is None else environ
    return tuple(value for name, value in env.items() if value and _SECRET_KEY.search(name))


def component_tracer_provider(component: str) -> TracerProvider | None:
    """A provider for an in-process component with its own ``service.name`` (``autoops-<component>``)
    and the process's exporters; None when telemetry is not configured (nothing is exported)."""
    telemetry = _configured
    if telemetry is None:
        return None
    with _lock:
        provider = telemetry.components.get(component)
        if provider is None:
            resource = telemetry.tracer_provider.resource.merge(
                Resource({SERVICE_NAME: f"autoops-{component}", COMPONENT: component})
            )
            # The processors belong to the main provider, which flushes and shuts them down.
            provider = TracerProvider(resource=resource, shutdown_on_exit=False)
            for processor in telemetry.processors:
                provider.add_span_processor(processor)
            telemetry.components[component] = provider
        return provider


def instrument_partner_app(app: Any, component: str) -> None:
    """Trace an in-process partner server (a reference supplier / CMMS / MES FastAPI app).

    Its server spans continue the caller's trace from the ``traceparent`` header and carry
    ``autoops.component``; call before the app serves its first request (the ASGI middleware
    stack is built then). Without configured telemetry this does nothing.
    """
    provider = component_tracer_provider(component)
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def mark(span: trace.Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute(COMPONENT, component)

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, server_request_hook=mark, exclude_spans=["receive", "send"]
    )
