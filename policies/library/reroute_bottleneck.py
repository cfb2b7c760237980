"""A degraded bottleneck machine with queued jobs -> reroute the queue to a capable alternative.

Only bottlenecks: elsewhere the queue can wait for the repair. Without a capable alternative it
tells the plant manager instead. A machine whose only problem is a sensor fault is not degraded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel, Field

from agents.models import HealthReport, Status
from policies.base import Policy, PolicyContext, threshold
from policies.models import (
    ApprovalRequirement,
    ApprovalRule,
    Autonomy,
    Notify,
    ProposedAction,
    RerouteWork,
)


class Params(BaseModel):
    degraded_below: float = Field(
        default=0.5, ge=0, le=1
    )  # health score under which it is degraded
    min_queued_jobs: int = Field(default=1, ge=1)
    for_duration_min: float = Field(default=15.0, ge=0)


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    info = ctx.machines.get(r.asset_id)
    if info is None or not info.bottleneck or info.queued_jobs < p.min_queued_jobs:
        return []
    key = f"{ctx.site}:{r.asset_id}:reroute"
    degraded = r.status == Status.RED or (
        r.status == Status.AMBER and r.health_score < p.degraded_below
    )
    if ctx.is_active(key):
        degraded = r.status in (Status.AMBER, Status.RED)  # hysteresis: back to green ends it
    if not degraded:
        return []
    why = (
        f"bottleneck {r.asset_id} is {r.status.value} (health {r.health_score:.2f}) with "
        f"{info.queued_jobs} queued jobs"
    )
    evidence = {
        "status": r.status.value,
        "health_score": r.health_score,
        "queued_jobs": info.queued_jobs,
        "alternatives": list(info.alternatives),
        "degraded_below": p.degraded_below,
        "findings": list(r.findings),
        "thresholds": [
            threshold("health_score", r.health_score, p.degraded_below, "<"),
            threshold("queued_jobs", info.queued_jobs, p.min_queued_jobs, ">="),
        ],
    }
    if not info.alternatives:
        return [
            ProposedAction(
                action=Notify(
                    roles=("plant_manager",), message=f"{why}; no capable alternative machine"
                ),
                autonomy=Autonomy.SUGGEST,
                asset_id=r.asset_id,
                dedup_key=key,
                explanation=f"{why}, but no capable alternative: the plant manager must decide.",
                evidence=evidence,
            )
        ]
    capability = info.capabilities[0] if info.capabilities else None
    return [
        ProposedAction(
            action=RerouteWork(from_asset=r.asset_id, capability=capability, reason=why),
            autonomy=Autonomy.APPROVE,
            approval=ApprovalRequirement(
                roles=("plant_manager",),
                tier="production",
                reason="moving jobs changes the production plan",
            ),
            asset_id=r.asset_id,
            dedup_key=key,
            explanation=f"{why}: move them to {', '.join(info.alternatives)}.",
            evidence=evidence,
        )
    ]


POLICY = Policy(
    id="reroute-bottleneck",
    version="1.0.0",
    owner="production-planning",
    description="Degraded bottleneck with queued jobs: reroute to a capable alternative.",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.APPROVE,
    stale_after=timedelta(minutes=30),
    cooldown=timedelta(hours=4),
    clear_after=timedelta(hours=2),
    precedence=40,
    conflict_group="production",
    approval_rules=lambda p: (
        ApprovalRule(
            requirement=ApprovalRequirement(roles=("plant_manager",), tier="production"),
            up_to=0.0,
        ),
    ),
)
