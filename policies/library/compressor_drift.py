"""Energy: a compressor's specific power drifting above its baseline -> flag for review with payback.

Specific power (kW per m3/min of free air delivered) rises as a compressor wears. The flag carries
the excess energy per day and the payback of a replacement, so a person can judge it: it starts a
review (``workflows/review``) in the inbox of the role that owns the compressor (``[owners]``),
which stays open until that person closes it with a comment. Version 2: the flag used to be
recorded only (``suggest``) and reached nobody; it is now ``approve`` (a person must act). If the
drift is still there after the cool-down once the review is closed, it is flagged again. Figures the energy agent already computed are used as they are; missing ones are computed here
from the parameters (tariff, replacement price, running hours).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel, Field

from agents.models import AssetKind, HealthReport
from policies.base import Policy, PolicyContext, threshold
from policies.models import Autonomy, FlagForReview, ProposedAction


class Params(BaseModel):
    drift_fire_pct: float = Field(default=10.0, gt=0)
    drift_clear_pct: float = Field(default=6.0, ge=0)
    tariff_per_kwh: float = Field(default=0.18, ge=0)
    replacement_cost: float = Field(default=45000.0, gt=0)
    new_specific_power: float | None = None  # kW/(m3/min) of the replacement; None: the baseline
    running_hours_per_year: float = Field(default=6000.0, gt=0)
    flow_m3_min: float = Field(default=10.0, gt=0)  # used when the report carries no flow


def _v(r: HealthReport, *names: str) -> float | None:
    for name in names:
        i = r.indicator(name)
        if i is not None and i.value is not None and math.isfinite(i.value):
            return i.value
    return None


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    sp = _v(r, "specific_power", "specific_power_kw_per_m3min")
    base = _v(r, "specific_power_baseline", "baseline_specific_power")
    drift = _v(r, "specific_power_drift_pct", "drift_pct")
    if drift is None and sp is not None and base:
        drift = 100.0 * (sp / base - 1.0)
    if drift is None:
        return []
    key = f"{ctx.site}:{r.asset_id}:specific-power"
    if not ctx.exceeds(key, drift, p.drift_fire_pct, p.drift_clear_pct):
        return []
    flow = _v(r, "flow", "flow_m3_min") or p.flow_m3_min
    target = p.new_specific_power or base
    excess_kw = (sp - target) * flow if sp is not None and target else None
    excess_kwh_day = _v(r, "excess_kwh_per_day")
    annual = _v(r, "annual_excess_kwh")
    if excess_kwh_day is None and annual is not None:
        excess_kwh_day = annual / 365.0
    if excess_kwh_day is None and excess_kw is not None:
        excess_kwh_day = excess_kw * p.running_hours_per_year / 365.0
    price = _v(r, "replacement_price") or p.replacement_cost  # the agent's offer wins
    payback = _v(r, "payback_years")
    if payback is None and excess_kwh_day:
        yearly_saving = excess_kwh_day * 365.0 * p.tariff_per_kwh
        payback = price / yearly_saving if yearly_saving > 0 else None
    figures = {"drift_pct": round(drift, 2)}
    if sp is not None:
        figures["specific_power"] = sp
    if base:
        figures["baseline_specific_power"] = base
    if excess_kwh_day is not None:
        figures["excess_kwh_per_day"] = round(excess_kwh_day, 1)
    if payback is not None:
        figures["payback_years"] = round(payback, 2)
    pay_txt = f"; a replacement at {price:.0f} pays back in {payback:.1f} years" if payback else ""
    text = (
        f"{r.asset_id} specific power is {drift:.1f}% above its baseline "
        f"(fires at {p.drift_fire_pct:g}%)"
        + (f", {excess_kwh_day:.0f} kWh/day wasted" if excess_kwh_day else "")
        + pay_txt
        + "."
    )
    return [
        ProposedAction(
            action=FlagForReview(
                subject=f"compressor efficiency drift on {r.asset_id}",
                asset_id=r.asset_id,
                detail=text,
                figures=figures,
            ),
            autonomy=Autonomy.APPROVE,  # a person of the owning role must look and close it
            asset_id=r.asset_id,
            dedup_key=key,
            explanation=text,
            evidence={
                **figures,
                "drift_fire_pct": p.drift_fire_pct,
                "tariff_per_kwh": p.tariff_per_kwh,
                "replacement_cost": price,
                "thresholds": [threshold("drift_pct", drift, p.drift_fire_pct, ">=", "%")],
            },
        )
    ]


POLICY = Policy(
    id="compressor-drift",
    version="2.0.0",
    owner="energy-management",
    description="Compressor specific-power drift: a review for the compressor's owner, with the replacement payback.",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.APPROVE,
    asset_kinds=(AssetKind.ENERGY, AssetKind.MACHINE),
    for_duration=timedelta(hours=6),  # a drift, not a spike: it must last
    stale_after=timedelta(hours=6),
    cooldown=timedelta(days=7),
    precedence=50,
    conflict_group="energy",
)
