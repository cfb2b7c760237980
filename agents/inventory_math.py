"""Textbook replenishment formulas, on plain numbers so each can be checked by hand.

Safety stock z·σ·√L, reorder point, Wilson's economic order quantity, and the stock-out status rule
of the inventory agent.
"""

from __future__ import annotations

import math

from agents.models import Status

HOURS_PER_YEAR = 8760.0


def safety_stock(z: float, sigma_per_h: float, lead_time_h: float) -> float:
    """z · σ(hourly demand) · √(lead time in hours): demand over the lead time has std σ·√L."""
    return z * sigma_per_h * math.sqrt(lead_time_h)


def reorder_point(rate_per_h: float, lead_time_h: float, safety: float) -> float:
    return rate_per_h * lead_time_h + safety


def economic_order_quantity(annual_demand: float, order_cost: float, holding_cost: float) -> float:
    """Wilson's EOQ √(2·D·K / h); 0 when there is no demand, inf when holding is free."""
    if annual_demand <= 0 or order_cost <= 0:
        return 0.0
    if holding_cost <= 0:
        return math.inf
    return math.sqrt(2.0 * annual_demand * order_cost / holding_cost)


def stock_status(stockout_in_h: float | None, lead_time_h: float, review_period_h: float) -> Status:
    """Red at or inside the lead time, amber at or inside lead time + review period."""
    if stockout_in_h is None:
        return Status.GREEN
    if stockout_in_h <= lead_time_h:
        return Status.RED
    if stockout_in_h <= lead_time_h + review_period_h:
        return Status.AMBER
    return Status.GREEN


__all__ = [
    "HOURS_PER_YEAR",
    "economic_order_quantity",
    "reorder_point",
    "safety_stock",
    "stock_status",
]
