"""Bearing wear: an amber machine with bearing-defect evidence and a short RUL gets maintenance.

The job goes into the next planned window that fits before the RUL's lower bound (minus a safety
margin); if none fits, it asks for an unplanned stop, which the plant manager must approve. The
bearing kit travels with the job: the maintenance workflow reserves it and orders what stock does
not cover (one child part order, automatic below the cost limit). The policy proposes no order of
its own: two owners of one need would order it twice.

When stock lacks the kit, the job cannot start before the kit can be here: the policy plans the
first window that starts after now + the kit's catalog lead time + ``parts_margin_h`` (time to
approve, order and receive), and hands that bound to the workflow as ``earliest_start``, so the
decision, the approval card and the CMMS work order name one window.
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
    PartLine,
    Priority,
    ProposedAction,
    ScheduleMaintenance,
)


class Params(BaseModel):
    rul_fire_h: float = Field(default=400.0, gt=0)  # fire when the RUL lower bound is below this
    rul_clear_h: float = Field(default=600.0, gt=0)  # once fired, clear only above this
    job_hours: float = Field(default=4.0, gt=0)
    safety_margin_h: float = Field(
        default=12.0, ge=0
    )  # finish this long before the RUL lower bound
    kit_sku: str = "BRG-KIT-6205"
    kit_qty: int = Field(default=1, ge=1)
    kit_price: float = Field(default=180.0, ge=0)  # used when the catalog has no price
    kit_supplier: str = "bearings-direct"
    # used when the catalog does not list the kit; None: unknown, so the window is not bounded by
    # the parts (the maintenance workflow still moves the job if they come after its window)
    kit_lead_time_h: float | None = Field(default=None, ge=0)
    # a short kit: plan no earlier than its lead time plus this (approval, ordering, receiving)
    parts_margin_h: float = Field(default=12.0, ge=0)
    accept_vibration_trend: bool = True  # a rising velocity trend behind the RUL counts as evidence
    evidence_keywords: tuple[str, ...] = (
        "bearing",
        "bpfo",
        "bpfi",
        "bsf",
        "ftf",
        "outer race",
        "inner race",
        "cage",
        "ball",
    )


def _bearing_evidence(
    report: HealthReport, keywords: Sequence[str], accept_trend: bool
) -> list[str]:
    words = [f for f in report.findings if any(k in f.lower() for k in keywords)]
    words += [
        f"{i.name}={i.value:g}{i.unit} ({i.status.value})"
        for i in report.indicators
        if i.status != Status.GREEN
        and i.value is not None
        and any(k in i.name.lower() for k in keywords)
    ]
    if accept_trend and report.rul is not None:
        # The agent trends vibration velocity for its RUL: a rising velocity trend is the wear
        # trend even when the record has no waveform to name the defect frequency.
        words += [
            f"rising vibration trend {i.name} = {i.value:+.4g} {i.unit}"
            for i in report.indicators
            if i.name.endswith(".trend")
            and i.value is not None
            and i.value > 0
            and i.unit.startswith(("mm/s", "in/s"))
        ]
    return words


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    key = f"{ctx.site}:{r.asset_id}:bearing"
    evidence = _bearing_evidence(r, p.evidence_keywords, p.accept_vibration_trend)
    if ctx.is_active(key):
        # Hysteresis: an open bearing problem holds while the machine is not green again or its
        # RUL stays under the clear level, even if one report misses the envelope evidence.
        rul_low = r.rul is not None and r.rul.lower < p.rul_clear_h
        if r.status not in (Status.AMBER, Status.RED) and not rul_low:
            return []
    elif r.status not in (Status.AMBER, Status.RED) or r.rul is None or not evidence:
        return []
    elif not ctx.falls_below(key, r.rul.lower, p.rul_fire_h, p.rul_clear_h):
        return []
    # Without a fresh RUL (held open by hysteresis) the job keeps its key but has no deadline.
    latest_start = (
        r.time + timedelta(hours=max(0.0, r.rul.lower - p.safety_margin_h - p.job_hours))
        if r.rul is not None
        else None
    )
    stock = ctx.stock.get(p.kit_sku, 0.0)
    kit = ctx.catalog.get(p.kit_sku)
    price = kit.unit_price if kit else p.kit_price
    short = max(0, p.kit_qty - int(stock))
    lead_h = kit.lead_time_days * 24.0 if kit else p.kit_lead_time_h
    # A short kit: the job goes no earlier than the kit can be here (ordered after approval).
    earliest_start = (
        ctx.now + timedelta(hours=lead_h + p.parts_margin_h) if short and lead_h is not None else None
    )
    window = ctx.next_window(
        r.asset_id, min_hours=p.job_hours, not_after=latest_start, not_before=earliest_start
    )
    line = PartLine(sku=p.kit_sku, quantity=p.kit_qty, unit_price=price, description="bearing kit")
    facts = {
        "status": r.status.value,
        "rul_h": r.rul.value if r.rul else None,
        "rul_lower_h": r.rul.lower if r.rul else None,
        "rul_fire_h": p.rul_fire_h,
        "bearing_evidence": evidence,
        "latest_start": latest_start.isoformat() if latest_start else None,
        "window_start": window.start.isoformat() if window else None,
        "kit_stock": stock,
        "kit_needed": p.kit_qty,
        "kit_supplier": kit.supplier if kit else p.kit_supplier,
        "kit_lead_time_h": lead_h,
        "earliest_start": earliest_start.isoformat() if earliest_start else None,
        "thresholds": [threshold("rul_lower_h", r.rul.lower, p.rul_fire_h, "<=", "h")]
        if r.rul
        else [],
    }
    cites = (
        f"{r.asset_id} is {r.status.value} with {'; '.join(evidence) or 'an open bearing problem'}"
    )
    kit_words = (
        f" Bearing kit {p.kit_sku}: {stock:g} in stock, {p.kit_qty} needed"
        + (
            f"; the job orders {short} ({short * price:.2f}), here by "
            f"{earliest_start:%Y-%m-%d %H:%M} ({lead_h:g} h lead time + {p.parts_margin_h:g} h)."
            if earliest_start and lead_h is not None
            else f"; the job orders {short} ({short * price:.2f}), lead time unknown."
            if short
            else ", reserved for the job."
        )
    )
    if r.rul is not None:
        cites += (
            f"; RUL {r.rul.value:.0f} h (lower bound {r.rul.lower:.0f} h < {p.rul_fire_h:.0f} h)"
        )
    if window is not None:
        job = ScheduleMaintenance(
            asset_id=r.asset_id,
            task="replace bearing",
            duration_h=p.job_hours,
            priority=Priority.P3,
            latest_start=latest_start,
            earliest_start=earliest_start,
            parts=(line,),
        )
        text = (
            f"{cites}: replace the bearing in the planned window {window.start:%Y-%m-%d %H:%M}"
            f"-{window.end:%H:%M}" + (f" ({window.label})" if window.label else "") + "."
            + kit_words
        )
        approval = ApprovalRequirement(
            roles=("maintenance_lead",), tier="planned", reason="maintenance in a planned window"
        )
    else:
        job = ScheduleMaintenance(
            asset_id=r.asset_id,
            task="replace bearing",
            duration_h=p.job_hours,
            priority=Priority.P2,
            latest_start=latest_start,
            earliest_start=earliest_start,
            parts=(line,),
        )
        by = f"before {latest_start:%Y-%m-%d %H:%M}" if latest_start else "in the schedule"
        if earliest_start is not None:
            by = f"after the kit is here and {by}"
        text = f"{cites}: no planned window fits {by}; an unplanned stop is needed." + kit_words
        approval = ApprovalRequirement(
            roles=("plant_manager",),
            tier="unplanned stop",
            reason="no planned window before the predicted failure",
        )
    actions = [
        ProposedAction(
            action=job,
            autonomy=Autonomy.APPROVE,
            approval=approval,
            asset_id=r.asset_id,
            dedup_key=key,
            explanation=text,
            evidence=facts,
        )
    ]
    return actions


POLICY = Policy(
    id="bearing-wear",
    version="1.2.0",
    owner="reliability-engineering",
    description="Amber machine with bearing-defect evidence and RUL below a threshold: maintenance "
    "in the next planned window the bearing kit can be here for (its workflow orders what stock "
    "lacks).",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.APPROVE,
    stale_after=timedelta(hours=6),
    cooldown=timedelta(hours=24),
    clear_after=timedelta(hours=6),
    precedence=20,
    conflict_group="maintenance",
    # planned window: the maintenance lead; no window in time: the plant manager (any cost)
    approval_rules=lambda p: (
        ApprovalRule(requirement=ApprovalRequirement(roles=("maintenance_lead",), tier="planned")),
        ApprovalRule(
            requirement=ApprovalRequirement(roles=("plant_manager",), tier="unplanned stop")
        ),
    ),
)
