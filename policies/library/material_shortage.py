"""Material shortage: projected stock-out inside the lead time -> purchase order proposal.

Quantity: the inventory agent's suggestion (order up to reorder point + cover, at least the EOQ);
without it, max(EOQ, what brings the position back above the reorder point). Cost tiers: up to
``auto_limit`` automatic, up to ``buyer_limit`` one buyer, above that a buyer and the plant manager.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel, Field

from agents.models import AssetKind, HealthReport
from policies.base import Policy, PolicyContext, threshold
from policies.models import (
    ApprovalRequirement,
    ApprovalRule,
    Autonomy,
    OrderParts,
    PartLine,
    ProposedAction,
)


class Params(BaseModel):
    # Fire inside lead time + review period: ordering only inside the bare lead time is, by
    # definition, too late for the delivery to arrive before the stock-out.
    include_review_period: bool = True
    auto_limit: float = Field(default=500.0, ge=0)
    buyer_limit: float = Field(default=5000.0, ge=0)
    default_supplier: str = "default-supplier"
    order_cost: float = Field(default=50.0, ge=0)  # EOQ's S when the report has no EOQ
    holding_rate: float = Field(default=0.25, gt=0)


def _value(r: HealthReport, name: str) -> float | None:
    i = r.indicator(name)
    return i.value if i is not None and i.value is not None and math.isfinite(i.value) else None


def order_quantity(r: HealthReport, unit_price: float, p: Params, min_qty: int = 1) -> int:
    """Units to order: the agent's suggestion, else max(EOQ, reorder point - position)."""
    suggested = _value(r, "suggested_order_qty")
    if suggested:
        return max(min_qty, math.ceil(suggested))
    rate = _value(r, "consumption_rate") or 0.0
    eoq = _value(r, "eoq")
    if eoq is None and rate > 0 and unit_price > 0:
        eoq = math.sqrt(2 * rate * 8760.0 * p.order_cost / (p.holding_rate * unit_price))
    position = _value(r, "inventory_position") or _value(r, "stock") or 0.0
    rop = _value(r, "reorder_point") or 0.0
    return max(min_qty, math.ceil(max(eoq or 0.0, rop - position)))


MANAGER_ROLES = ("buyer", "plant_manager")


def approval_rules(p: Params) -> tuple[ApprovalRule, ...]:
    """Who the orders ask for, by cost: what ``evaluate`` below does, as data for the load check."""
    return (
        ApprovalRule(
            requirement=ApprovalRequirement(roles=("buyer",), tier="unpriced"), up_to=0.0
        ),
        ApprovalRule(
            requirement=ApprovalRequirement(roles=("buyer",), tier="buyer"),
            above=p.auto_limit,
            up_to=max(p.auto_limit, p.buyer_limit),
        ),
        ApprovalRule(
            requirement=ApprovalRequirement(roles=MANAGER_ROLES, min_approvers=2, tier="manager"),
            above=max(p.auto_limit, p.buyer_limit),
        ),
    )


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    stockout = _value(r, "stockout_in_h")
    lead = _value(r, "lead_time_h")
    if stockout is None or lead is None:
        return []
    horizon = lead + ((_value(r, "review_period_h") or 0.0) if p.include_review_period else 0.0)
    key = f"{ctx.site}:{r.asset_id}:shortage"
    # Judge the cover of stock *plus open orders*: once an order is on its way the shortage is
    # handled, and the next one (after the delivery is used up) is a new problem with a new order.
    cover = _value(r, "cover_h")
    judged = cover if cover is not None else stockout
    # hysteresis: once proposed, the shortage holds until cover is 20 % beyond the horizon
    if not ctx.falls_below(key, judged, horizon, horizon * 1.2):
        return []
    item = ctx.catalog.get(r.asset_id)
    price_ind = r.indicator("unit_price")
    price = item.unit_price if item else (price_ind.value if price_ind and price_ind.value else 0.0)
    currency = price_ind.unit if price_ind and price_ind.unit else "EUR"
    supplier = (
        item.supplier
        if item
        else (
            price_ind.note.removeprefix("supplier ")
            if price_ind and price_ind.note.startswith("supplier ")
            else p.default_supplier
        )
    )
    qty = order_quantity(r, price, p, item.min_order_qty if item else 1)
    cost = qty * price
    if price <= 0:
        autonomy, approval, tier = (
            Autonomy.APPROVE,
            ApprovalRequirement(
                roles=("buyer",), tier="unpriced", reason=f"no price known for {r.asset_id}"
            ),
            "unpriced",
        )
    elif cost <= p.auto_limit:
        autonomy, approval, tier = Autonomy.AUTO, None, "auto"
    elif cost <= p.buyer_limit:
        autonomy, approval, tier = (
            Autonomy.APPROVE,
            ApprovalRequirement(
                roles=("buyer",),
                tier="buyer",
                reason=f"{cost:.2f} {currency} above auto limit {p.auto_limit:g}",
            ),
            "buyer",
        )
    else:
        autonomy, approval, tier = (
            Autonomy.APPROVE,
            ApprovalRequirement(
                roles=MANAGER_ROLES,
                min_approvers=2,
                tier="manager",
                reason=f"{cost:.2f} {currency} above buyer limit {p.buyer_limit:g}",
            ),
            "manager",
        )
    order = OrderParts(
        supplier=supplier,
        currency=currency,
        lines=(PartLine(sku=r.asset_id, quantity=qty, unit_price=price, description=item.description if item else ""),),
        need_by=r.time + timedelta(hours=stockout),
    )
    return [
        ProposedAction(
            action=order,
            autonomy=autonomy,
            approval=approval,
            asset_id=r.asset_id,
            dedup_key=key,
            estimated_cost=cost,
            currency=currency,
            explanation=f"{r.asset_id} runs out in {stockout:.0f} h"
            + (
                f" (with open orders in {cover:.0f} h)"
                if cover is not None and cover != stockout
                else ""
            )
            + f", inside the {horizon:.0f} h lead time"
            + (" + review period" if p.include_review_period else "")
            + f": order {qty} at {price:.2f} = {cost:.2f} {currency} from {supplier} ({tier}).",
            evidence={
                "stockout_in_h": stockout,
                "cover_h": cover,
                "lead_time_h": lead,
                "horizon_h": horizon,
                "stock": _value(r, "stock"),
                "reorder_point": _value(r, "reorder_point"),
                "eoq": _value(r, "eoq"),
                "quantity": qty,
                "unit_price": price,
                "cost": cost,
                "auto_limit": p.auto_limit,
                "tier": tier,
                "thresholds": [
                    threshold(
                        "cover_h" if cover is not None else "stockout_in_h",
                        judged,
                        horizon,
                        "<=",
                        "h",
                    ),
                    threshold(
                        "cost", cost, p.auto_limit, "<=" if tier == "auto" else ">", currency
                    ),
                ],
            },
        )
    ]


POLICY = Policy(
    id="material-shortage",
    version="1.0.0",
    owner="supply-chain",
    description="Projected stock-out inside the lead time: purchase proposal, auto below a cost limit.",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.AUTO,
    asset_kinds=(AssetKind.INVENTORY,),
    stale_after=timedelta(hours=24),
    cooldown=timedelta(hours=12),
    precedence=30,
    conflict_group="supply",
    approval_rules=approval_rules,
)
