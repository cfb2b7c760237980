"""Read the local span file and print the causal tree behind a decision or a workflow."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.errors import InputError

Span = dict[str, Any]

#: Attributes whose value identifies what a person asks about.
KEY_ATTRIBUTES = (
    "decision.id",
    "workflow.id",
    "temporalWorkflowID",
    "asset.id",
    "report.id",
    "po.number",
)
#: Attributes worth showing on a line of the tree, in this order.
SHOWN_ATTRIBUTES = (
    "asset.id",
    "report.id",
    "asset.status",
    "policy.id",
    "policy.version",
    "decision.id",
    "decision.outcome",
    "workflow.id",
    "temporalWorkflowID",
    "temporalActivityID",
    "approval.approver",
    "approval.outcome",
    "http.request.method",
    "http.method",
    "url.full",
    "http.url",
    "http.response.status_code",
    "http.status_code",
    "po.number",
)


def load_spans(path: Path) -> list[Span]:
    if not path.exists():
        raise InputError(
            "no trace file yet; run the system (e.g. `autoops demo`) first", file=str(path)
        )
    spans: list[Span] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                spans.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line (process killed mid-write) must not hide the rest.
                continue
    return spans


def traces_for(spans: list[Span], key: str) -> list[str]:
    """Trace ids holding a span whose key attribute equals ``key``, plus traces linked to them."""
    found: list[str] = []
    for span in spans:
        attrs = span.get("attributes", {})
        if any(attrs.get(a) == key for a in KEY_ATTRIBUTES) and span["trace_id"] not in found:
            found.append(span["trace_id"])
    linked: list[str] = []
    for span in spans:
        for link in span.get("links", []):
            if span["trace_id"] in found and link["trace_id"] not in found + linked:
                linked.append(link["trace_id"])
            if link["trace_id"] in found and span["trace_id"] not in found + linked:
                linked.append(span["trace_id"])
    return found + linked


def render_tree(spans: list[Span], trace_id: str) -> list[str]:
    """Lines of one trace as an indented tree with durations and key attributes."""
    mine = sorted((s for s in spans if s["trace_id"] == trace_id), key=lambda s: s["start_ns"] or 0)
    if not mine:
        return [f"trace {trace_id}: no spans"]
    ids = {s["span_id"] for s in mine}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in mine:
        parent = span.get("parent_span_id")
        children[parent if parent in ids else None].append(span)
    t0 = mine[0]["start_ns"] or 0
    lines = [f"trace {trace_id}"]

    def walk(span: Span, depth: int) -> None:
        start_ms = ((span["start_ns"] or 0) - t0) / 1e6
        dur_ms = ((span["end_ns"] or 0) - (span["start_ns"] or 0)) / 1e6
        attrs = span.get("attributes", {})
        shown = " ".join(f"{k}={attrs[k]}" for k in SHOWN_ATTRIBUTES if k in attrs)
        links = "".join(f" -> linked trace {link['trace_id']}" for link in span.get("links", []))
        lines.append(
            f"{'  ' * (depth + 1)}{span['name']} [{span.get('service') or '?'}] "
            f"+{start_ms:.1f}ms {dur_ms:.1f}ms {shown}{links}".rstrip()
        )
        for child in children.get(span["span_id"], []):
            walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    return lines
