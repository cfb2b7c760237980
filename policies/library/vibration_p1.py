"""'If vibration exceeds X for Y minutes, create a P1 work order.'

X defaults to 7.1 mm/s RMS (ISO 10816-3 zone C/D boundary, group 2 rigid) and Y to 10 minutes;
it clears only below ``clear_at`` so a value wobbling around X does not open and close orders. A
vibration channel flagged with a sensor fault is not evidence: that is the instrument policy's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel, Field

from agents.models import HealthReport
from policies.base import Policy, PolicyContext, threshold
from policies.models import Autonomy, CreateWorkOrder, Priority, ProposedAction


class Params(BaseModel):
    # Indicator names to judge, first present wins; empty: the first one in mm/s (velocity RMS).
    indicators: tuple[str, ...] = ()
    fire_at: float = Field(default=7.1, gt=0)  # mm/s RMS
    clear_at: float = Field(default=5.5, gt=0)
    for_duration_min: float = Field(default=10.0, ge=0)  # the engine holds the condition this long
    sensor: str | None = None  # the vibration sensor's name; its faults void the evidence


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    if p.indicators:
        indicator = next((i for name in p.indicators if (i := r.indicator(name)) is not None), None)
    else:
        indicator = next(
            (i for i in r.indicators if i.unit == "mm/s" and i.value is not None), None
        )
    if indicator is None or indicator.value is None:
        return []
    faulty = {f.sensor for f in r.sensor_faults}
    if (p.sensor or indicator.name.split(".", 1)[0]) in faulty:
        return []
    key = f"{ctx.site}:{r.asset_id}:vibration"
    if not ctx.exceeds(key, indicator.value, p.fire_at, p.clear_at):
        return []
    order = CreateWorkOrder(
        asset_id=r.asset_id,
        priority=Priority.P1,
        title=f"{r.asset_id}: vibration {indicator.value:.1f} {indicator.unit} above {p.fire_at:g}",
        description=f"{indicator.name} has stayed above {p.fire_at:g} {indicator.unit} for at least "
        f"{p.for_duration_min:g} min (clears below {p.clear_at:g}). {r.summary}".strip(),
    )
    return [
        ProposedAction(
            action=order,
            autonomy=Autonomy.AUTO,
            asset_id=r.asset_id,
            dedup_key=key,
            explanation=f"{r.asset_id} {indicator.name} = {indicator.value:.2f} {indicator.unit} exceeds "
            f"{p.fire_at:g} {indicator.unit} for {p.for_duration_min:g} min: P1 work order.",
            evidence={
                "indicator": indicator.name,
                "value": indicator.value,
                "unit": indicator.unit,
                "fire_at": p.fire_at,
                "clear_at": p.clear_at,
                "for_duration_min": p.for_duration_min,
                "thresholds": [
                    threshold(indicator.name, indicator.value, p.fire_at, ">=", indicator.unit)
                ],
            },
        )
    ]


POLICY = Policy(
    id="vibration-p1",
    version="1.0.0",
    owner="maintenance",
    description="Vibration above X for Y minutes: P1 work order.",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.AUTO,
    stale_after=timedelta(minutes=30),
    cooldown=timedelta(hours=8),
    precedence=10,
    conflict_group="maintenance",
)
