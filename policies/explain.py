"""Words for a stored decision: why did the system do that (or hold back)?"""

from __future__ import annotations

import json
from typing import Any

from policies.models import Decision

_HIDDEN = {"thresholds"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


def thresholds(decision: Decision) -> list[dict[str, Any]]:
    """The thresholds a decision's evidence says were crossed (empty for stale / error)."""
    found = decision.input_values.get("thresholds") or []
    return [t for t in found if isinstance(t, dict) and "name" in t]


def explain(decision: Decision) -> str:
    """A plain-text account of one decision for ``autoops decisions explain``."""
    d = decision
    lines = [
        f"decision {d.decision_id}",
        f"  time:        {d.time.isoformat()}",
        f"  site/asset:  {d.site or '-'} / {d.asset_id or '-'}",
        f"  policy:      {d.policy_id} version {d.policy_version} (source sha256 {d.policy_source_hash[:12]})",
        f"  outcome:     {d.outcome.value}",
        f"  explanation: {d.explanation}",
    ]
    if d.proposed is not None:
        p = d.proposed
        action = p.action.model_dump(mode="json", exclude_defaults=True)
        lines.append(
            f"  action:      {p.action.kind} ({p.autonomy.value}) {json.dumps(action, default=str)}"
        )
        if p.approval is not None:
            lines.append(
                f"  approval:    roles {', '.join(p.approval.roles)}, {p.approval.min_approvers} "
                f"approver(s){'; ' + p.approval.reason if p.approval.reason else ''}"
            )
        if p.estimated_cost:
            lines.append(f"  cost:        {p.estimated_cost:.2f} {p.currency}")
    lines.append(f"  inputs:      {', '.join(d.inputs) or '-'}")
    crossed = thresholds(d)
    if crossed:
        lines.append("  thresholds crossed:")
        for t in crossed:
            lines.append(
                f"    {t['name']} = {_fmt(t.get('value'))} {t.get('op', '')} "
                f"{_fmt(t.get('limit'))} {t.get('unit', '')}".rstrip()
            )
    lines.append("  evidence:")
    for key in sorted(k for k in d.input_values if k not in _HIDDEN):
        lines.append(f"    {key} = {_fmt(d.input_values[key])}")
    lines.append("  parameters:")
    for key in sorted(d.parameters):
        lines.append(f"    {key} = {_fmt(d.parameters[key])}")
    if d.trace_id or d.workflow_id:
        lines.append(f"  trace: {d.trace_id or '-'}  workflow: {d.workflow_id or '-'}")
    if d.results:
        lines.append("  how it ended (each run it started):")
        for r in d.results:
            when = f"{r.time.isoformat()}  " if r.time else ""
            # The run's tag as PO numbers carry it (the random end of Temporal's run id).
            tag = r.run_id.replace("-", "")[-8:]
            lines.append(f"    {when}{r.workflow_id}{' run ' + tag if tag else ''}: {r.summary()}")
    elif d.proposed is not None and d.workflow_id:
        lines.append("  how it ended: still running")
    return "\n".join(lines)
