"""Configuration of one stocked SKU: supplier terms and the costs behind the order quantity.

Typed from the ``[[inventory]]`` tables of the plant configuration; the agent is in
``agents/inventory.py``, the textbook formulas in ``agents/inventory_math.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

from pydantic import Field, model_validator

from agents.models import Frozen


class InventoryItem(Frozen):
    """One stocked SKU and its replenishment terms (``lead_time_days`` is accepted too)."""

    sku: str = Field(min_length=1)
    description: str = ""
    unit: str = "pcs"
    line: str = ""  # the production line that mainly consumes it, for the words in findings
    supplier: str = ""
    lead_time_h: float = Field(gt=0)
    review_period_h: float = Field(default=24.0, ge=0)
    unit_price: float = Field(default=0.0, ge=0)
    currency: str = "EUR"
    service_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    min_order_qty: float = Field(default=1.0, ge=0)
    order_cost: float = Field(default=50.0, ge=0)  # fixed cost of placing one order
    # Cost of holding one unit for a year; if unset, holding_rate x unit_price (a usual 20-30 %).
    holding_cost_per_year: float | None = Field(default=None, gt=0)
    holding_rate: float = Field(default=0.25, gt=0)
    smoothing_h: float = Field(default=48.0, gt=0)  # time constant of the consumption rate
    asset_id: str | None = None  # defaults to the SKU

    @model_validator(mode="before")
    @classmethod
    def _days_to_hours(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "lead_time_days" in data:
            data = dict(data)
            days = data.pop("lead_time_days")
            if "lead_time_h" in data:
                raise ValueError("give lead_time_h or lead_time_days, not both")
            data["lead_time_h"] = float(days) * 24.0
        return data

    @property
    def agent_id(self) -> str:
        return self.asset_id or self.sku

    @property
    def z(self) -> float:
        """Safety factor for the service level (cycle service level, one-sided normal quantile)."""
        # Same quantile as scipy.stats.norm.ppf, without importing scipy.stats (~1 s on this box).
        return NormalDist().inv_cdf(self.service_level)

    @property
    def holding_cost(self) -> float:
        return self.holding_cost_per_year or self.holding_rate * self.unit_price


__all__ = ["InventoryItem"]
