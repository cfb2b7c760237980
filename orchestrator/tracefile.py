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
    "approval.role",
    "approval.outcome",
    "approval.state",
    "autoops.component",
    "peer.service",
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


def roots(spans: list[Span], trace_id: str) -> list[Span]:
    """The spans of one trace without a parent in it, earliest first."""
    mine = [s for s in spans if s["trace_id"] == trace_id]
    ids = {s["span_id"] for s in mine}
    return sorted(
        (s for s in mine if s.get("parent_span_id") not in ids), key=lambda s: s["start_ns"] or 0
    )


def render_tree(spans: list[Span], trace_id: str, *, collapse: bool = False) -> list[str]:
    """Lines of one trace as an indented tree with durations and key attributes.

    ``collapse``: a run of childless sibling spans of one name (a workflow's many health
    signals) becomes one line with its count, so the causal chain stays readable.
    """
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

    def line(span: Span, depth: int, repeat: int = 1) -> str:
        start_ms = ((span["start_ns"] or 0) - t0) / 1e6
        dur_ms = ((span["end_ns"] or 0) - (span["start_ns"] or 0)) / 1e6
        attrs = span.get("attributes", {})
        shown = " ".join(f"{k}={attrs[k]}" for k in SHOWN_ATTRIBUTES if k in attrs)
        links = "".join(f" -> linked trace {link['trace_id']}" for link in span.get("links", []))
        if repeat > 1:
            links = f" (x{repeat}, linked traces not listed)"
        return (
            f"{'  ' * (depth + 1)}{span['name']} [{span.get('service') or '?'}] "
            f"+{start_ms:.1f}ms {dur_ms:.1f}ms {shown}{links}".rstrip()
        )

    def walk(siblings: list[Span], depth: int) -> None:
        i = 0
        while i < len(siblings):
            span = siblings[i]
            run = 1
            if collapse and not children.get(span["span_id"]):
                while (
                    i + run < len(siblings)
                    and siblings[i + run]["name"] == span["name"]
                    and not children.get(siblings[i + run]["span_id"])
                ):
                    run += 1
            lines.append(line(span, depth, run))
            walk(children.get(span["span_id"], []), depth + 1)
            i += run

    walk(children[None], 0)
    return lines
