"""Digital twin of one stocked SKU: random shift-dependent demand, orders and deliveries.

Time-compressed: one step is one simulated hour, computed instantly. Demand per line and hour is
Poisson with a mean that depends on the shift (nights run a skeleton crew). Orders arrive after the
supplier lead time; a workflow's goods receipt can add stock from outside with ``receive``.

Scenario ``stock-shortage``: consumption on line B rises sharply on day 3 (a large order is pulled
forward), so the stock that would have lasted beyond the lead time now runs out inside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from agents.base import Reading
from agents.inventory import InventoryAgent, InventoryItem, purchase_evidence
from agents.models import Indicator, Status
from agents.simulator.scenarios import scenario

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00
_NONE = Indicator(name="none", value=None)


def shift_factor(hour_of_day: int) -> float:
    """Early (06-14) and late (14-22) shifts run full; the night shift at 30 %."""
    return 1.0 if 6 <= hour_of_day < 22 else 0.3


@dataclass
class _Order:
    qty: float
    due: datetime


@dataclass
class StockTwin:
    """One SKU consumed by lines; ``readings()`` yields hourly stock counts (caller bounds it)."""

    seed: int
    item: InventoryItem
    initial_stock: float = 2400.0
    demand_per_h: Mapping[str, float] = field(default_factory=lambda: {"A": 6.0, "B": 4.0})
    surge_line: str | None = None
    surge_at_h: float = 0.0
    surge_factor: float = 1.0
    start: datetime = START
    step_h: float = 1.0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.stock = float(self.initial_stock)
        self.now = self.start
        self._orders: list[_Order] = []
        self._pending_receipts = 0.0
        self._pending_issues = 0.0
        self.stock_out_at: datetime | None = None
        self.min_stock = self.stock
        self.consumed_by_line: dict[str, float] = {line: 0.0 for line in self.demand_per_h}

    @property
    def hours(self) -> float:
        return (self.now - self.start).total_seconds() / 3600.0

    @property
    def on_order(self) -> float:
        return sum(order.qty for order in self._orders)

    def order(self, qty: float, *, lead_time_h: float | None = None) -> datetime:
        """Place an order now; it arrives after the lead time. Returns the due time."""
        due = self.now + timedelta(
            hours=self.item.lead_time_h if lead_time_h is None else lead_time_h
        )
        self._orders.append(_Order(qty=float(qty), due=due))
        return due

    def receive(self, qty: float) -> None:
        """Goods receipt from outside (e.g. the part-order workflow), booked at the next step.

        Open orders are reduced first-in first-out at the same step, so one reading never shows the
        order gone but the stock not yet in (which would look like consumption).
        """
        self._pending_receipts += float(qty)

    def issue(self, qty: float) -> None:
        """Parts taken out for a job (not production demand), booked at the next step."""
        self._pending_issues += float(qty)

    def _book_receipts(self) -> None:
        remaining, self._pending_receipts = self._pending_receipts, 0.0
        self.stock += remaining
        while remaining > 0 and self._orders:
            first = self._orders[0]
            taken = min(first.qty, remaining)
            first.qty -= taken
            remaining -= taken
            if first.qty <= 0:
                self._orders.pop(0)

    def _demand(self, line: str, base: float) -> float:
        mean = base * self.step_h * shift_factor(self.now.hour)
        if line == self.surge_line and self.hours >= self.surge_at_h:
            mean *= self.surge_factor
        return float(self._rng.poisson(mean))

    def step(self) -> Reading:
        """Advance one step: consume, deliver what is due, and return the count at the new time."""
        for line, base in self.demand_per_h.items():
            wanted = self._demand(line, base)
            taken = min(wanted, self.stock)  # a line cannot take what is not there
            self.stock -= taken
            self.consumed_by_line[line] += taken
        self.now += timedelta(hours=self.step_h)
        for order in [o for o in self._orders if o.due <= self.now]:
            self.stock += order.qty
            self._orders.remove(order)
        self._book_receipts()
        issued, self._pending_issues = self._pending_issues, 0.0
        self.stock = max(0.0, self.stock - issued)
        self.min_stock = min(self.min_stock, self.stock)
        if self.stock <= 0 and self.stock_out_at is None:
            self.stock_out_at = self.now
        return Reading(
            asset_id=self.item.agent_id,
            time=self.now,
            values={"stock": self.stock, "on_order": self.on_order},
        )

    def readings(self, hours: float | None = None) -> Iterator[Reading]:
        """Hourly readings; the first is the opening count. Unbounded unless ``hours`` is given."""
        yield Reading(
            asset_id=self.item.agent_id,
            time=self.now,
            values={"stock": self.stock, "on_order": self.on_order},
        )
        while hours is None or self.hours < hours:
            yield self.step()


def shortage_item() -> InventoryItem:
    return InventoryItem(
        sku="BAR-42CRMO4-40",
        description="42CrMo4 round bar, 40 mm, 3 m",
        unit="pcs",
        line="B",
        supplier="steelco",
        lead_time_h=72.0,
        review_period_h=24.0,
        unit_price=38.5,
        service_level=0.95,
        min_order_qty=200,
        order_cost=80.0,
    )


def shortage_twin(seed: int) -> StockTwin:
    return StockTwin(
        seed=seed,
        item=shortage_item(),
        initial_stock=2400.0,
        surge_line="B",
        surge_at_h=60.0,
        surge_factor=3.0,
    )


def _run(seed: int, *, order_at_amber: bool, horizon_h: float = 14 * 24.0) -> dict[str, Any]:
    twin = shortage_twin(seed)
    agent = InventoryAgent(twin.item)
    first: dict[Status, float] = {}
    at_amber: dict[str, Any] = {}
    orders = 0
    for reading in twin.readings(horizon_h):
        report = agent.assess(reading)
        for status in (Status.AMBER, Status.RED):
            if report.status.rank >= status.rank and status not in first:
                first[status] = twin.hours
        if report.status is Status.AMBER and not at_amber:
            at_amber = purchase_evidence(report)
        if order_at_amber and report.status.rank >= Status.AMBER.rank:
            # What a purchase policy would do: order the suggested quantity whenever it is > 0
            # (it drops to 0 while an open order already covers the need).
            qty = (report.indicator("suggested_order_qty") or _NONE).value
            if qty:
                twin.order(qty)
                orders += 1
        if twin.stock_out_at is not None and not order_at_amber:
            break
    stock_out_h = (
        (twin.stock_out_at - twin.start).total_seconds() / 3600.0 if twin.stock_out_at else None
    )
    return {
        "first": first,
        "at_amber": at_amber,
        "stock_out_at_h": stock_out_h,
        "orders": orders,
        "min_stock": twin.min_stock,
    }


@scenario("stock-shortage")
def stock_shortage(seed: int) -> dict[str, Any]:
    """Line B's demand triples: does the agent warn in time to order, and does ordering help?"""
    bare = _run(seed, order_at_amber=False)
    ordered = _run(seed, order_at_amber=True)
    first, at_amber = bare["first"], bare["at_amber"]
    amber_h, out_h = first.get(Status.AMBER), bare["stock_out_at_h"]
    item = shortage_item()
    return {
        "sku": item.sku,
        "lead_time_h": item.lead_time_h,
        "review_period_h": item.review_period_h,
        "surge_at_h": shortage_twin(seed).surge_at_h,
        "first_amber_at_h": amber_h,
        "first_red_at_h": first.get(Status.RED),
        "stock_out_at_h": out_h,  # with no order placed
        "warning_lead_h": (out_h - amber_h) if out_h is not None and amber_h is not None else None,
        "projected_stockout_at_first_amber_h": at_amber.get("stockout_in_h"),
        "suggested_order_qty": at_amber.get("suggested_order_qty"),
        "reorder_point_at_first_amber": at_amber.get("reorder_point"),
        "unit_price": item.unit_price,
        "order_value": (at_amber.get("suggested_order_qty") or 0.0) * item.unit_price,
        # Second run, same seed: the suggested quantity is ordered whenever the SKU is amber or red.
        "stock_out_with_orders_at_h": ordered["stock_out_at_h"],
        "orders_placed": ordered["orders"],
        "min_stock_with_orders": ordered["min_stock"],
    }


__all__ = ["StockTwin", "shift_factor", "shortage_item", "shortage_twin", "stock_shortage"]
