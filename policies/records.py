"""How a ``Decision`` record is made: deterministic id, the evidence, the parameters, the inputs."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agents.models import HealthReport
from policies.base import Policy, PolicyContext
from policies.models import Decision, DecisionOutcome, ProposedAction


def decision_id(policy: Policy, asset: str | None, key: str, outcome: str, now: datetime) -> str:
    """Same policy version, asset, problem, outcome and time: same id (replays write no duplicates)."""
    raw = f"{policy.id}|{policy.version}|{asset or ''}|{key}|{outcome}|{now.isoformat()}"
    return "d-" + hashlib.sha256(raw.encode()).hexdigest()[:20]


def make_decision(
    policy: Policy,
    source_hash: str,
    *,
    asset: str,
    key: str,
    outcome: DecisionOutcome,
    ctx: PolicyContext,
    report: HealthReport | None,
    params: BaseModel | None,
    proposal: ProposedAction | None,
    explanation: str,
) -> Decision:
    values: dict[str, Any] = {}
    if report is not None:
        values.update(
            status=report.status.value,
            health_score=report.health_score,
            report_time=report.time.isoformat(),
        )
    if proposal is not None:
        values.update(proposal.evidence)
    return Decision(
        decision_id=decision_id(policy, asset, key, outcome.value, ctx.now),
        time=ctx.now,
        site=ctx.site,
        asset_id=asset,
        policy_id=policy.id,
        policy_version=policy.version,
        policy_source_hash=source_hash,
        parameters=params.model_dump(mode="json") if params is not None else {},
        inputs=(report.report_id,) if report is not None else (),
        input_values=values,
        outcome=outcome,
        proposed=proposal,
        explanation=explanation,
    )
