"""One decision, one trace: the headless demo exports its spans over real OTLP/HTTP to a receiver
in this test, which decodes the protobuf. The demo runs ONCE per module, in a subprocess (telemetry
is configured once per process, from the environment, as in production)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from orchestrator.temporal import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUTOOPS = str(Path(sys.executable).with_name("autoops"))
CALLBACK_SECRET = "e2e-callback-secret-4d1f8a6c2b"  # what AUTOOPS_CALLBACK_SECRET holds in the demo
DEMO_TIMEOUT_S = 480


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Received:
    """What the OTLP receiver got: decoded spans, metric names, and every raw body."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    metrics: set[str] = field(default_factory=set)
    bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            self.bodies.append(body)
            for rs in request.resource_spans:
                service = _attrs(rs.resource.attributes).get("service.name")
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(
                            {
                                "trace_id": s.trace_id.hex(),
                                "span_id": s.span_id.hex(),
                                "parent_span_id": s.parent_span_id.hex() or None,
                                "name": s.name,
                                "kind": s.kind,
                                "service": service,
                                "start_ns": s.start_time_unix_nano,
                                "end_ns": s.end_time_unix_nano,
                                "attributes": _attrs(s.attributes),
                                "events": [(e.name, _attrs(e.attributes)) for e in s.events],
                                "links": [
                                    {
                                        "trace_id": link.trace_id.hex(),
                                        "span_id": link.span_id.hex(),
                                        "attributes": _attrs(link.attributes),
                                    }
                                    for link in s.links
                                ],
                            }
                        )

    def add_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            self.bodies.append(body)
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    self.metrics.update(m.name for m in sm.metrics)


def _receiver(received: Received) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                received.add_traces(body)
                answer = ExportTraceServiceResponse().SerializeToString()
            elif self.path == "/v1/metrics":
                received.add_metrics(body)
                answer = ExportMetricsServiceResponse().SerializeToString()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            return None

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@dataclass
class DemoRun:
    state_dir: Path
    env: dict[str, str]
    summary: dict[str, Any]
    received: Received
    stderr: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    received = Received()
    server = _receiver(received)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state_dir = tmp_path_factory.mktemp("traced-demo") / "state"
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "2000",  # metrics reach the receiver during a short run
        "AUTOOPS_CALLBACK_SECRET": CALLBACK_SECRET,
        "AUTOOPS_STATE_DIR": str(state_dir),
        # Ports of its own: another run (a second CI on the box, a demo) may hold the defaults.
        "AUTOOPS_WEB_PORT": str(free_port()),
        "AUTOOPS_TEMPORAL_PORT": str(free_port()),
        "AUTOOPS_TEMPORAL_UI_PORT": str(free_port()),
    }
    env.pop("OTEL_SERVICE_NAME", None)
    process = subprocess.Popen(
        [AUTOOPS, "demo", "--headless", "--until-done", "--json", "--fresh", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group: everything it started can be ended
        text=True,
    )
    try:
        out, err = process.communicate(timeout=DEMO_TIMEOUT_S)
        assert process.returncode == 0, f"demo failed ({process.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
        summary = json.loads(out.strip().splitlines()[-1])
        # What arrived over OTLP, kept beside the state for a person reading a failure.
        (state_dir / "otlp-received.json").write_text(json.dumps(received.spans, default=str))
        yield DemoRun(state_dir, env, summary, received, err)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        else:
            try:  # anything the demo left behind in its group (a dev server, a raylet)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.shutdown()
        server.server_close()


def _by_id(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["span_id"]: s for s in spans}


def _ancestors(span: dict[str, Any], index: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    chain = []
    parent = span.get("parent_span_id")
    while parent and parent in index and len(chain) < 50:
        span = index[parent]
        chain.append(span)
        parent = span.get("parent_span_id")
    return chain


def _supplier_order_chain(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[the loop's call to the agents, the actor's assessment, policy evaluation, workflow start,
    activity, HTTP POST, supplier server span] of the first supplier order whose server span was
    received."""
    index = _by_id(spans)
    for server in spans:
        if server["service"] != "autoops-reference-supplier" or server["attributes"].get("http.route") != "/orders":
            continue
        method = server["attributes"].get("http.request.method") or server["attributes"].get("http.method")
        if method != "POST":
            continue
        up = _ancestors(server, index)
        names = [s["name"] for s in up]
        if names[:2] != ["POST", "RunActivity:place_order"] or "policy.evaluate" not in names:
            continue
        client, activity = up[0], up[1]
        start = next(s for s in up if s["name"].startswith("StartWorkflow:"))
        policy = next(s for s in up if s["name"] == "policy.evaluate")
        ingest, assessment = up[-1], up[-2]
        return [ingest, assessment, policy, start, activity, client, server]
    raise AssertionError(
        "no supplier POST /orders server span descends from a policy evaluation; spans received: "
        f"{sorted({s['name'] for s in spans})[:60]}"
    )


def test_supplier_order_is_one_trace_from_assessment_to_the_suppliers_server_span(demo_run: DemoRun) -> None:
    ingest, assessment, policy, start, activity, client, server = _supplier_order_chain(demo_run.received.spans)
    assert len({s["trace_id"] for s in (ingest, assessment, policy, start, activity, client, server)}) == 1
    # The loop's span around the Ray call is the root; the assessment is the actor's own span,
    # recorded in the actor's process (its pid is not the loop's) as the loop span's child.
    assert ingest["name"] == "fleet.ingest" and ingest["parent_span_id"] is None
    assert ingest["service"] == "autoops-orchestrator"
    assert assessment["name"] == "agent.assessment" and assessment["parent_span_id"] == ingest["span_id"]
    assert assessment["service"] == "autoops-agents"
    assert assessment["attributes"]["process.pid"] != ingest["attributes"]["process.pid"]
    assert ingest["start_ns"] <= assessment["start_ns"] <= assessment["end_ns"] <= ingest["end_ns"]
    assert assessment["attributes"]["asset.id"] and assessment["attributes"]["report.id"]
    assert assessment["attributes"]["asset.status"] in ("amber", "red")
    assert policy["parent_span_id"] == assessment["span_id"]
    assert policy["attributes"]["decision.id"].startswith("d-")
    assert policy["attributes"]["policy.version"] and policy["attributes"]["decision.outcome"] == "proposed"
    assert start["parent_span_id"] == policy["span_id"]
    assert start["name"] in ("StartWorkflow:PartOrder", "StartWorkflow:Maintenance")
    assert policy["attributes"]["workflow.id"] == start["attributes"]["temporalWorkflowID"]
    assert activity["attributes"]["temporalWorkflowID"].startswith("po:")
    assert client["attributes"]["peer.service"] == "supplier" and client["attributes"]["http.method"] == "POST"
    assert client["attributes"]["http.url"].endswith("/orders")
    assert server["parent_span_id"] == client["span_id"]  # traceparent crossed the wire
    assert server["attributes"]["autoops.component"] == "reference-supplier"
    assert client["service"] == "autoops-orchestrator"


def test_the_approval_vote_is_its_own_trace_linked_to_the_workflows(demo_run: DemoRun) -> None:
    spans = demo_run.received.spans
    votes = [s for s in spans if s["name"] == "approval.vote"]
    assert votes, "no approval.vote span received"
    # The trace that first started each part-order workflow (after it completed, the next order
    # for the same stock item starts a new run under the same workflow id, in a later trace).
    started: dict[str, str] = {}
    for s in sorted(spans, key=lambda s: s["start_ns"]):
        if s["name"] == "StartWorkflow:PartOrder":
            started.setdefault(s["attributes"]["temporalWorkflowID"], s["trace_id"])
    vote = next(v for v in votes if v["attributes"]["workflow.id"] in started)
    workflow_trace = started[vote["attributes"]["workflow.id"]]
    assert any(s["name"] == "policy.evaluate" for s in spans if s["trace_id"] == workflow_trace)
    assert vote["parent_span_id"] is None and vote["trace_id"] != workflow_trace
    assert vote["attributes"]["approval.approver"] and vote["attributes"]["approval.outcome"] == "approve"
    assert vote["attributes"]["decision.id"].startswith("d-")
    linked = {(link["trace_id"], link["span_id"]) for link in vote["links"]}
    in_workflow_trace = {(s["trace_id"], s["span_id"]) for s in spans if s["trace_id"] == workflow_trace}
    assert linked & in_workflow_trace, "the vote does not link to a span of the workflow's trace"
    # and back: the workflow's update handler links to the vote's trace
    handlers = [s for s in spans if s["name"] == "HandleUpdate:decide" and s["trace_id"] == workflow_trace]
    assert any(link["trace_id"] == vote["trace_id"] for h in handlers for link in h["links"])


def test_operations_metrics_arrive_over_otlp(demo_run: DemoRun) -> None:
    names = demo_run.received.metrics
    assert {"autoops.reports", "autoops.decisions", "autoops.approval.wait"} <= names, sorted(names)


def test_autoops_trace_prints_the_bearing_wear_chain(demo_run: DemoRun) -> None:
    listed = subprocess.run(
        [AUTOOPS, "decisions", "list", "--json", "--policy", "bearing-wear"],
        capture_output=True, text=True, env=demo_run.env, timeout=60, check=True,
    )
    decision = next(
        d for d in json.loads(listed.stdout)
        if d["outcome"] == "proposed" and (d.get("workflow_id") or "").startswith("maint:")
    )
    shown = subprocess.run(
        [AUTOOPS, "trace", decision["decision_id"], "--state-dir", str(demo_run.state_dir)],
        capture_output=True, text=True, env=demo_run.env, timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()

    def depth_of(*needles: str) -> int:
        line = next((x for x in lines if all(n in x for n in needles)), None)
        assert line is not None, f"no line with {needles} in:\n{shown.stdout[:4000]}"
        return len(line) - len(line.lstrip())

    chain = [
        depth_of("agent.assessment", "asset.id=mill-1"),
        depth_of("policy.evaluate", "policy.id=bearing-wear", f"decision.id={decision['decision_id']}"),
        depth_of("StartWorkflow:Maintenance"),
        depth_of("StartChildWorkflow:PartOrder"),
        depth_of("RunActivity:place_order"),
        depth_of("POST [autoops-orchestrator]", "/orders", "peer.service=supplier"),
        depth_of("POST /orders [autoops-reference-supplier]"),
    ]
    assert chain == sorted(chain) and len(set(chain)) == len(chain), chain
    assert any(x.strip().startswith("approval.vote") and "approval.approver=" in x for x in lines)
    assert "ms" in lines[1]  # timings


def test_no_configured_secret_in_any_exported_span(demo_run: DemoRun) -> None:
    from orchestrator.config import load_config
    from orchestrator.demo import DEMO_PASSWORD, DEMO_PLANT

    secrets = [CALLBACK_SECRET] + [DEMO_PASSWORD.format(name=u.name) for u in load_config(DEMO_PLANT).users]
    received = demo_run.received
    # The places a secret would travel were traced: sign-ins and HMAC-signed callbacks.
    names = {s["name"] for s in received.spans}
    assert "POST /login" in names and "POST /callbacks/{source}" in names, sorted(names)[:80]
    for span in received.spans:
        text = json.dumps([span["name"], span["attributes"], span["events"], span["links"]])
        for secret in secrets:
            assert secret not in text, f"secret in span {span['name']}"
    for body in received.bodies:  # resource attributes and anything not decoded above
        for secret in secrets:
            assert secret.encode() not in body
    trace_file = (demo_run.state_dir / "traces.jsonl").read_text()
    assert trace_file.count("\n") > 100
    for secret in secrets:
        assert secret not in trace_file
